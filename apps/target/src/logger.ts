/**
 * Logging: the logger interface the daemon's modules write to, and the
 * pino instance `main.ts` creates.
 *
 * What it does: `Logger` is the pino-compatible `(object, message)` shape
 * (structurally the same as the iSCSI frontend's, so one pino logger serves
 * both); `createLogger` builds pino with JSON lines on stdout, or
 * `pino-pretty` output when stdout is a TTY (or `pretty` is forced).
 *
 * What it does not do: no log files or rotation (redirect stdout), no
 * per-module levels.
 */
import { pino, type Level, type Logger as PinoLogger } from 'pino';

/** A pino-compatible logger. */
export interface Logger {
  error(obj: Record<string, unknown>, msg?: string): void;
  warn(obj: Record<string, unknown>, msg?: string): void;
  info(obj: Record<string, unknown>, msg?: string): void;
  debug(obj: Record<string, unknown>, msg?: string): void;
}

const noop = (): void => {};
/** Discards everything (the default of library entry points). */
export const nullLogger: Logger = { error: noop, warn: noop, info: noop, debug: noop };

export const LOG_LEVELS: readonly Level[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

export interface CreateLoggerOptions {
  level: Level;
  /** Human-readable output; default: whether stdout is a TTY. */
  pretty?: boolean;
}

/** The daemon's root logger. */
export function createLogger(options: CreateLoggerOptions): PinoLogger {
  const pretty = options.pretty ?? process.stdout.isTTY === true;
  if (pretty) {
    return pino({
      level: options.level,
      transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } },
    });
  }
  return pino({ level: options.level, base: { pid: process.pid } });
}
