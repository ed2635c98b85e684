// Which login form the console opens on. The admin API lists the methods the gateway accepts
// (GET /session/methods); where it offers one, that is the form. Where it offers both (or the
// list cannot be read), the preference decides: a `login=token|password` hint in the URL, else
// the method that last worked in this browser, else the password form.

import type { LoginMethod } from './types.js';

/** A login method of the admin API: 'password' or 'token'. */
export type LoginMode = LoginMethod;

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

/**
 * The form to show, given the preferred one and what the gateway accepts (undefined while the list
 * is unknown): the only accepted method, else the preferred one when it is accepted.
 */
export function chooseLoginMode(preferred: LoginMode, accepted: readonly LoginMode[] | undefined): LoginMode {
  if (accepted === undefined || accepted.length === 0 || accepted.includes(preferred)) return preferred;
  return accepted[0]!;
}

/** The mode the login page opens on in this browser now, before the accepted methods are known. */
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
