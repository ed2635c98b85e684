export * from './api-security.js';
export * from './errors.js';
export * from './http.js';
export * from './token-source.js';
export * from './mp-client.js';
export * from './access-token/index.js';
export * from './sm2-keys.js';
