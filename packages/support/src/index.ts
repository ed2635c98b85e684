export { withTimeout, type WithTimeoutOptions } from './deadline.js';
export { redactUrl } from './redact.js';
export { collectBounded, declaredLengthExceeds, readBounded, type BoundedOptions, type ReadBoundedOptions } from './bounded-read.js';
