// @wxseal/fleet-sync: keeps key material current on every instance of a fleet. File watches with
// debounced reloads (FileWatcher), and a shared store over Redis or etcd (SyncStore) carrying
// published material, leadership per subject and signals, with an encrypted envelope
// (SubjectCipher) for material that must not sit in the store in clear.
export { FileWatcher, type FileWatcherOptions } from './file-watcher.js';
export { SUBJECT_PATTERN, type CommonStoreOptions, type SyncMessage, type SyncStore } from './common.js';
export { createSyncStore, connectSyncStore, type ConnectSyncStoreOptions, type SyncStoreOptions } from './store.js';
export { RedisSyncStore, type RedisStoreOptions } from './redis.js';
export { EtcdSyncStore, type EtcdClient, type EtcdStoreOptions } from './etcd.js';
export { FLEET_KEY_BYTES, SubjectCipher, parseFleetKey, type SubjectCipherOptions } from './sealed.js';
export {
  FLEET_SYNC_ERRORS,
  FleetSyncError,
  fleetSyncErrors,
  isFleetSyncError,
  type FleetSyncErrorCode,
  type SyncErrorFactory,
  type SyncFailureKind,
} from './errors.js';
