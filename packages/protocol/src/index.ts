/**
 * @wxseal/protocol — wxseal protocol v1 (SPEC.md): canonical strings, HMAC signatures, the
 * RSA-OAEP + AES-256-GCM envelope and response sealing. Depends on nothing but node:crypto and
 * runs on Node 16.13 and later.
 */
export * from './constants.js';
export * from './errors.js';
export * from './encoding.js';
export * from './json.js';
export * from './target.js';
export * from './canonical.js';
export * from './hmac.js';
export * from './envelope.js';
export * from './identity.js';
export * from './payload.js';
export * from './request.js';
export * from './verify.js';
export * from './response.js';
export * from './device.js';
