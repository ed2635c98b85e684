/** The key-lookup cache of @wxseal/devices: Bloom filter → L1 LRU → L2 Redis → L3 source. */
export {
  DeviceKeyResolver,
  type DeviceKeyCacheComponent,
  type DeviceKeyCacheStats,
  type DeviceKeyResolverOptions,
} from './device-key-resolver.js';
export type { InvalidationResult } from './invalidation-bus.js';
export {
  BloomFilter,
  MAX_BLOOM_BITS,
  SerialBloom,
  bloomSize,
  measureFalsePositiveRate,
  type BloomFilterOptions,
  type BloomRebuildResult,
  type BloomSize,
  type FalsePositiveMeasurement,
  type SerialBloomOptions,
} from './bloom.js';
export { decodeCacheValue, encodeCacheValue, type CachedDeviceKey } from './codec.js';
export { CacheTimeoutError } from './timeout.js';
