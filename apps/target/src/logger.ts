/**
 * Logging: the logger interface the daemon's modules write to, and the
 * pino instance `main.ts` creates.
 *
 * What it does: `Logger` is the pino-compatible `(object, message)` shape
 * (structurally the same as the iSCSI frontend's, so one pino logger serves
 * both); `createLogger` builds pino with JSON lines, or `pino-pretty`
 * output when stdout is a TTY (or `pretty` is forced): records at error and
 * fatal level on stderr, the others on stdout, each record written once.
 *
 * What it does not do: no log files or rotation (redirect stdout and stderr), no
 * per-module levels.
 */
import { destination, multistream, pino, transport, type DestinationStream, type Level, type Logger as PinoLogger } from 'pino';

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
  // Errors (error, fatal) go to stderr, everything else to stdout; each record once (dedupe).
  if (pretty) {
    const prettyOptions = { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' };
    const stream: DestinationStream = transport({
      dedupe: true,
      targets: [
        { target: 'pino-pretty', level: 'trace', options: { ...prettyOptions, destination: 1 } },
        { target: 'pino-pretty', level: 'error', options: { ...prettyOptions, destination: 2 } },
      ],
    }) as DestinationStream;
    return pino({ level: options.level }, stream);
  }
  return pino(
    { level: options.level, base: { pid: process.pid } },
    multistream(
      [
        { level: 'trace', stream: destination({ fd: 1, sync: true }) },
        { level: 'error', stream: destination({ fd: 2, sync: true }) },
      ],
      { dedupe: true },
    ),
  );
}
