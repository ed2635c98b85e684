// The admin API v1 shapes the console uses (packages/gateway/ADMIN-API.md), named. Each is an alias
// of the generated types (generated/admin-api.ts, written by `npm run console:types` from the
// gateway's route table), so no shape is written down here: a change of the API shows up as a
// type error in the console, not as a drift.
import type { components } from './generated/admin-api.js';

type Api = components['schemas'];

// --- answers, by route --------------------------------------------------------------------------

/** POST /session and GET /session. */
export type Session = Api['LoginResponse'];
/** GET /session/methods. */
export type LoginMethods = Api['LoginMethodsResponse'];
/** GET /devices. */
export type DeviceList = Api['ListDevicesResponse'];
/** GET /devices/:serial. */
export type DeviceDetails = Api['GetDeviceResponse'];
/** POST /devices: the device and its key, shown this once. */
export type ProvisionedDevice = Api['ProvisionDeviceResponse'];
/** POST /devices/:serial/rotate: the device and its new key, shown this once. */
export type RotatedDevice = Api['RotateDeviceResponse'];
/** POST /devices/:serial/revoke. */
export type RevokedDevice = Api['RevokeDeviceResponse'];
/** POST /devices/import. */
export type ImportResult = Api['ImportDevicesResponse'];
/** GET /credentials. */
export type CredentialList = Api['ListCredentialsResponse'];
/** POST /credentials/:keyId/secrets: the new secret, shown this once. */
export type NewSecret = Api['AddSecretResponse'];
/** GET /server-keys. */
export type ServerKeyList = Api['ListServerKeysResponse'];
/** POST /server-keys/rotate. */
export type NewServerKey = Api['RotateServerKeyResponse'];
/** GET /certificates. */
export type CertificateList = Api['ListCertificatesResponse'];
/** POST /certificates/refresh. */
export type RefreshResult = Api['RefreshCertificatesResponse'];
/** GET /audit. */
export type AuditPage = Api['ListAuditResponse'];
/** GET /stats: the fleet's totals (or one instance's, with ?instance=) and the instances. */
export type Stats = Api['GetStatsResponse'];

// --- their parts --------------------------------------------------------------------------------

export type Device = DeviceList['devices'][number];
export type DeviceStatus = Device['status'];
export type DeviceKey = ProvisionedDevice['key'];
export type AuditEntry = AuditPage['entries'][number];
export type Credential = CredentialList['credentials'][number];
export type CredentialSecret = Credential['secrets'][number];
export type ServerKey = ServerKeyList['keys'][number];
/** A server key's type: rsa, x25519 or sm2 (its suite is rsa-oaep-256, x25519-hpke or sm2-sm4-gcm). */
export type ServerKeyType = ServerKey['type'];
export type Certificate = CertificateList['certificates'][number];
export type CertificateOwner = Certificate['owner'];
export type CertificateStatus = Certificate['status'];
export type StatsTotals = Stats['totals'];
export type StatsBucket = StatsTotals['series'][number];
export type FleetInstance = Stats['instances'][number];
export type LoginMethod = LoginMethods['methods'][number];
