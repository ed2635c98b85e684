/** The change feed of @wxseal/devices: every gateway applies every committed change, whoever made it. */
export { DeviceChangeFeed, type DeviceChangeFeedOptions, type DeviceChangeFeedStats, type DeviceChangeTarget } from './device-change-feed.js';
