import { useEffect, useState } from 'preact/hooks';
import { request } from '../api.js';
import { ErrorBox } from '../components/ErrorBox.js';
import { useI18n } from '../i18n/context.js';
import type { LoginMethods, Session } from '../types.js';
import { LangSwitch } from '../components/LangSwitch.js';
import { chooseLoginMode, currentLoginMode, rememberLoginMode, type LoginMode } from '../login-mode.js';

export function Login({ onLogin, notice }: { onLogin: (s: Session) => void; notice?: string | undefined }) {
  const { t } = useI18n();
  const [mode, setMode] = useState<LoginMode>(currentLoginMode);
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [token, setToken] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  // The methods the gateway accepts; undefined until known (both forms stay offered meanwhile).
  const [accepted, setAccepted] = useState<LoginMode[] | undefined>(undefined);

  useEffect(() => {
    let live = true;
    request<LoginMethods>('GET', '/session/methods', { login: true })
      .then((r) => {
        if (!live) return;
        setAccepted(r.methods);
        setMode((m) => chooseLoginMode(m, r.methods));
      })
      .catch(() => {
        // An older gateway without the list: keep both forms.
      });
    return () => {
      live = false;
    };
  }, []);

  const submit = async (e: Event) => {
    e.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      const body = mode === 'password' ? { user: user.trim(), password } : { token: token.trim() };
      const session = await request<Session>('POST', '/session', { body, login: true });
      setPassword('');
      setToken('');
      rememberLoginMode(mode);
      onLogin(session);
    } catch (err) {
      setPassword('');
      setToken('');
      setError(err);
      setBusy(false);
    }
  };

  return (
    <main class="login">
      <div class="login-lang">
        <LangSwitch />
      </div>
      <form class="login-card" onSubmit={submit} data-testid="login-form" aria-labelledby="login-title">
        <h1 id="login-title">{t('login.title')}</h1>
        <p class="muted">{t('login.subtitle')}</p>
        {notice && (
          <p class="notice" role="status" data-testid="login-notice">
            {notice}
          </p>
        )}
        {(accepted === undefined || accepted.length !== 1) && (
          <div class="segmented" role="group" aria-label={t('login.mode')}>
            <button
              type="button"
              data-testid="login-mode-password"
              aria-pressed={mode === 'password'}
              onClick={() => setMode('password')}
            >
              {t('login.modePassword')}
            </button>
            <button type="button" data-testid="login-mode-token" aria-pressed={mode === 'token'} onClick={() => setMode('token')}>
              {t('login.modeToken')}
            </button>
          </div>
        )}
        {mode === 'password' ? (
          <>
            <label class="field">
              <span>{t('login.user')}</span>
              <input
                data-testid="login-user"
                name="username"
                autocomplete="username"
                required
                autoFocus
                value={user}
                onInput={(e) => setUser(e.currentTarget.value)}
              />
            </label>
            <label class="field">
              <span>{t('login.password')}</span>
              <input
                data-testid="login-password"
                type="password"
                name="password"
                autocomplete="current-password"
                required
                value={password}
                onInput={(e) => setPassword(e.currentTarget.value)}
              />
            </label>
          </>
        ) : (
          <label class="field">
            <span>{t('login.token')}</span>
            <input
              data-testid="login-token"
              type="password"
              name="token"
              autocomplete="off"
              required
              autoFocus
              value={token}
              onInput={(e) => setToken(e.currentTarget.value)}
            />
          </label>
        )}
        <ErrorBox error={error} testid="login-error" />
        <button type="submit" class="primary wide" data-testid="login-submit" disabled={busy}>
          {busy ? t('state.working') : t('login.submit')}
        </button>
      </form>
    </main>
  );
}
