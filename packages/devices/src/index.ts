/**
 * @wxseal/devices — one key per device (一机一密): the SQL registry with keys encrypted at rest
 * (store/), and the key lookup behind the server's KeyResolver interface: Bloom filter →
 * in-process LRU → Redis → SQL, with single-flight loads and pub/sub invalidation (cache/), and the
 * change feed that applies every committed change on every instance, whoever made it (feed/).
 */
export * from './store/index.js';
export * from './cache/index.js';
export * from './feed/index.js';
