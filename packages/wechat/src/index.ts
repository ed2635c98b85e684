export * from './api-security.js';
