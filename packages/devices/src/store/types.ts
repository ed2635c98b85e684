/**
 * The contract between the device registry (this folder) and the key caches in ../cache/.
 * Keep these two interfaces stable: the cache layer codes against them.
 */

export interface DeviceKeyRecord {
  serial: string;
  status: 'active' | 'revoked';
  currentKey: Buffer; // decrypted 32-byte device key
  previousKey?: Buffer; // decrypted, only while its grace period runs
  previousKeyNotAfter?: number; // Unix seconds, inclusive
  keyVersion: number;
  updatedAt: number; // Unix ms
}

export interface DeviceKeySource {
  /** undefined when the serial was never provisioned. Rejects (never hangs) when the database is unavailable. */
  load(serial: string): Promise<DeviceKeyRecord | undefined>;
  /** Every provisioned serial, streamed in pages (to build the Bloom filter at start-up). */
  serials(): AsyncIterable<string>;
}

export type DeviceStatus = DeviceKeyRecord['status'];

/**
 * What changed, as reported to DeviceStoreEvents.onChange after the transaction committed:
 * - `activate`: a new serial was provisioned (add it to a Bloom filter);
 * - `reactivate`: an existing serial got a new key (allowReactivation);
 * - `rotate`: a new key, the previous one kept for a grace period;
 * - `revoke`: the device is revoked;
 * - `import`: a new serial was provisioned by DeviceRepository.importMany.
 * A cache drops whatever it holds for the serial on every kind.
 */
export type DeviceChangeKind = 'activate' | 'reactivate' | 'rotate' | 'revoke' | 'import';

/** Hooks a DeviceRepository calls; the cache layer uses them to publish invalidations. */
export interface DeviceStoreEvents {
  /**
   * Called after the change is committed, once per changed serial. Awaited (so the operation
   * resolves after the invalidation is published); a throw or rejection is passed to onError and
   * never fails the operation, which is already committed.
   */
  onChange?(serial: string, kind: DeviceChangeKind): void | Promise<void>;
  /** Receives what onChange threw. Default: ignored. */
  onError?(error: unknown, serial: string, kind: DeviceChangeKind): void;
}
