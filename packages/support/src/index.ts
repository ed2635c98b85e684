export { withTimeout, type WithTimeoutOptions } from './deadline.js';
export { redactUrl } from './redact.js';
export { collectBounded, readBounded, type BoundedOptions, type ReadBoundedOptions } from './bounded-read.js';
