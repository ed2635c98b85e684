/**
 * The URL as it may be shown (logs, status pages, reports): its password replaced by `***`. The
 * user name stays (it says which account, not how to get in); query parameters are left as they
 * are, so a URL that carries a secret in its query must not be shown at all.
 *
 * A string that is not a URL is never echoed (it may be a secret pasted in the wrong place): the
 * answer is `invalid`, the caller's wording for it.
 */
export function redactUrl(url: string | URL, invalid = '[invalid url]'): string {
  let copy: URL;
  try {
    copy = new URL(url); // a copy: a URL object passed in is left as it is
  } catch {
    return invalid;
  }
  if (copy.password !== '') copy.password = '***';
  return copy.toString();
}
