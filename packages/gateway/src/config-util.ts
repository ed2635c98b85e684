/** Small helpers the config sections share. */

/** Sets a non-enumerable, read-only property: a secret (a URL with a password, a key) stays out of logs and JSON. */
export function hidden<T extends object, K extends string, V>(target: T, key: K, value: V): T & { readonly [P in K]: V } {
  Object.defineProperty(target, key, { value, enumerable: false, writable: false, configurable: false });
  return target as T & { readonly [P in K]: V };
}
