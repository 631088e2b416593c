import type { BaseLogger } from 'pino';

/**
 * The one logger type every long-lived part takes: the part of pino's logger scangate uses, so any
 * pino logger or child fits, and tests can pass silentLogger or a small recorder.
 */
export type Logger = Pick<BaseLogger, 'debug' | 'info' | 'warn' | 'error'>;

export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
