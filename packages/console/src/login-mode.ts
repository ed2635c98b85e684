// Which login form the console opens on. The admin API does not say which logins the gateway
// accepts (token, users or both) before one succeeds, so the console goes by what it can know:
// a `login=token|password` hint in the URL (`npm start` prints its console URL with
// `?login=token`, since its development setup has only a token), else the method that last
// worked in this browser, else the password form.

export type LoginMode = 'password' | 'token';

const STORAGE_KEY = 'wxseal.console.login';
const isMode = (v: string | null | undefined): v is LoginMode => v === 'password' || v === 'token';

/** The `login` parameter of the query string or of the hash (`#/overview?login=token`). */
export function loginHint(search: string, hash: string): LoginMode | undefined {
  const fromSearch = new URLSearchParams(search.replace(/^\?/, '')).get('login');
  if (isMode(fromSearch)) return fromSearch;
  const q = hash.indexOf('?');
  const fromHash = q < 0 ? null : new URLSearchParams(hash.slice(q + 1)).get('login');
  return isMode(fromHash) ? fromHash : undefined;
}

export function initialLoginMode(search: string, hash: string, stored: string | null): LoginMode {
  return loginHint(search, hash) ?? (isMode(stored) ? stored : 'password');
}

/** The mode the login page opens on in this browser now. */
export function currentLoginMode(): LoginMode {
  let stored: string | null = null;
  try {
    stored = localStorage.getItem(STORAGE_KEY);
  } catch {
    // storage unavailable
  }
  return initialLoginMode(location.search, location.hash, stored);
}

/** Remembers the method of a successful login, so the next visit opens on it. */
export function rememberLoginMode(mode: LoginMode): void {
  try {
    localStorage.setItem(STORAGE_KEY, mode);
  } catch {
    // ignore
  }
}
