import { useCallback, useEffect, useState } from 'preact/hooks';
import { api, ApiError, onUnauthenticated, setCsrfToken } from './api.js';
import { ErrorBox } from './components/ErrorBox.js';
import { LangSwitch } from './components/LangSwitch.js';
import { useI18n } from './i18n/context.js';
import type { MessageKey } from './i18n/index.js';
import { Audit } from './pages/Audit.js';
import { Certificates } from './pages/Certificates.js';
import { Credentials } from './pages/Credentials.js';
import { Devices } from './pages/Devices.js';
import { Login } from './pages/Login.js';
import { Overview } from './pages/Overview.js';
import { href, ROUTES, useRoute, type Route } from './router.js';
import type { Session } from './types.js';

const NAV_LABELS: Record<Route, MessageKey> = {
  overview: 'nav.overview',
  devices: 'nav.devices',
  credentials: 'nav.credentials',
  certificates: 'nav.certificates',
  audit: 'nav.audit',
};

type SessionState = { state: 'loading' } | { state: 'error'; error: unknown } | { state: 'out'; expired: boolean } | { state: 'in'; session: Session };

export function App() {
  const { t } = useI18n();
  const [s, setS] = useState<SessionState>({ state: 'loading' });

  const check = useCallback(async () => {
    setS({ state: 'loading' });
    try {
      const session = await api.get<Session>('/session');
      setCsrfToken(session.csrfToken);
      setS({ state: 'in', session });
    } catch (err) {
      setCsrfToken(null);
      if (err instanceof ApiError && err.status === 401) setS({ state: 'out', expired: false });
      else setS({ state: 'error', error: err });
    }
  }, []);

  useEffect(() => {
    // Any later 401 (expired or deleted session) → back to the login page; page state unmounts.
    onUnauthenticated(() => setS((cur) => (cur.state === 'in' ? { state: 'out', expired: true } : cur)));
    void check();
    return () => onUnauthenticated(null);
  }, [check]);

  if (s.state === 'loading') {
    return (
      <main class="center muted" aria-busy="true" data-testid="app-loading">
        {t('state.loading')}
      </main>
    );
  }
  if (s.state === 'error') {
    return (
      <main class="center">
        <ErrorBox error={s.error} testid="app-error" />
        <button type="button" data-testid="app-retry" onClick={() => void check()}>
          {t('action.retry')}
        </button>
      </main>
    );
  }
  if (s.state === 'out') {
    return (
      <Login
        notice={s.expired ? t('login.expired') : undefined}
        onLogin={(session) => {
          setCsrfToken(session.csrfToken);
          setS({ state: 'in', session });
        }}
      />
    );
  }
  return (
    <Shell
      session={s.session}
      onLogout={() => {
        setCsrfToken(null);
        setS({ state: 'out', expired: false });
      }}
    />
  );
}

function Shell({ session, onLogout }: { session: Session; onLogout: () => void }) {
  const { t } = useI18n();
  const route = useRoute();
  const [busy, setBusy] = useState(false);

  const logout = async () => {
    setBusy(true);
    try {
      await api.del('/session');
    } catch {
      // Gone already or unreachable: forget it locally anyway.
    }
    onLogout();
  };

  return (
    <div class="shell">
      <header class="topbar">
        <a class="brand" href={href('overview')}>
          {t('app.name')}
        </a>
        <nav class="nav" aria-label={t('nav.label')}>
          {ROUTES.map((r) => (
            <a key={r} href={href(r)} data-testid={`nav-${r}`} aria-current={route === r ? 'page' : undefined}>
              {t(NAV_LABELS[r])}
            </a>
          ))}
        </nav>
        <div class="topbar-right">
          <LangSwitch />
          <span class="actor" data-testid="session-actor" title={t('header.signedInAs')}>
            {session.actor}
          </span>
          <button type="button" data-testid="logout-button" disabled={busy} onClick={() => void logout()}>
            {t('header.logout')}
          </button>
        </div>
      </header>
      <main class="content" data-testid={`page-${route}`}>
        {route === 'overview' && <Overview />}
        {route === 'devices' && <Devices />}
        {route === 'credentials' && <Credentials />}
        {route === 'certificates' && <Certificates />}
        {route === 'audit' && <Audit />}
      </main>
    </div>
  );
}
