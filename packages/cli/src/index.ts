export { main } from './main.js';
export { keygen, serverKeyIdOf, type KeygenOptions, type KeygenResult } from './commands/keygen.js';
export { call, type CallOptions, type CallIo } from './commands/call.js';
export { loadClientConfig, type ClientConfigFile, type ResolvedClientConfig } from './config.js';
export { CLI_ERRORS, CliError, formatCliError, readOptionFile, type CliErrorCode } from './errors.js';
