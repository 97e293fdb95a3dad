// One structured logger for the Worker and the Durable Objects: one JSON line per event, with the
// same field names everywhere (`level`, `event`, then ids such as `channel_id`, `stream_id`,
// `node_id`, `trace_id`), so one stream's story can be read across the Worker, its objects and the
// transcoder (whose own logger writes the same fields to stdout). Workers Logs and `wrangler tail`
// index JSON lines by field.
//
// Secrets never reach a log line: any field whose name looks like a credential is redacted here,
// whatever the caller passed, so a careless `{ ...body }` cannot leak a stream key or a token.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Well-known ids first; anything else JSON-serialisable may follow. */
export interface LogFields {
  channel_id?: string;
  stream_id?: string;
  node_id?: string;
  trace_id?: string;
  user_id?: string;
  [field: string]: unknown;
}

export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line (e.g. the object's class and channel). */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  /** Lines below this level are dropped. Default: 'info'. */
  level?: LogLevel;
  /** Where a finished line goes. Default: console.error/warn/log by level (what Workers Logs reads). */
  write?: (level: LogLevel, line: string) => void;
  /** Adds `time` (ISO 8601) to each line; Workers Logs stamps lines itself, a Node process does not. */
  timestamps?: boolean;
}

const LEVEL_ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Field names that may hold a credential: their values are replaced, never printed. */
const SECRET_FIELD = /(pass(word)?|secret|token|authorization|cookie|stream_?key|api_?key|signature)$/i;
const REDACTED = '[redacted]';
const MAX_DEPTH = 4;

function writeToConsole(level: LogLevel, line: string): void {
  if (level === 'error') console.error(line);
  else if (level === 'warn') console.warn(line);
  else console.log(line);
}

/** A JSON-safe copy of a field value: errors as name/message/stack, secrets redacted, depth bounded. */
function sanitize(value: unknown, depth: number): unknown {
  if (value instanceof Error) {
    return { name: value.name, message: value.message, stack: value.stack };
  }
  if (typeof value === 'bigint') return value.toString();
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return '[truncated]';
  if (Array.isArray(value)) return value.map((item) => sanitize(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    out[key] = SECRET_FIELD.test(key) ? REDACTED : sanitize(item, depth + 1);
  }
  return out;
}

/** Builds one log line; exported for tests of the redaction rule. */
export function formatLogLine(level: LogLevel, event: string, fields: LogFields, time?: Date): string {
  const body: Record<string, unknown> = time ? { time: time.toISOString(), level, event } : { level, event };
  for (const [key, value] of Object.entries(fields)) {
    if (key === 'level' || key === 'event' || key === 'time' || value === undefined) continue;
    body[key] = SECRET_FIELD.test(key) ? REDACTED : sanitize(value, 1);
  }
  return JSON.stringify(body);
}

export function createLogger(base: LogFields = {}, options: LoggerOptions = {}): Logger {
  const threshold = LEVEL_ORDER[options.level ?? 'info'];
  const write = options.write ?? writeToConsole;
  const emit = (level: LogLevel, event: string, fields?: LogFields): void => {
    if (LEVEL_ORDER[level] < threshold) return;
    const line = formatLogLine(
      level,
      event,
      { ...base, ...fields },
      options.timestamps ? new Date() : undefined,
    );
    write(level, line);
  };
  return {
    debug: (event, fields) => emit('debug', event, fields),
    info: (event, fields) => emit('info', event, fields),
    warn: (event, fields) => emit('warn', event, fields),
    error: (event, fields) => emit('error', event, fields),
    child: (fields) => createLogger({ ...base, ...fields }, options),
  };
}

/** The process-wide logger of the Worker and its objects; objects take a `child()` with their ids. */
export const log: Logger = createLogger();
