// The transcoder's logger: one JSON line per event on stdout, with the same fields and the same
// secret redaction as the Worker's (`common/log.ts`: `time`, `level`, `event`, then ids such as
// `stream_id`, `channel_id`, `node_id`, `trace_id`), so one stream's story reads the same across the
// edge and the ingest host. The line format is shared, the sink is the transcoder's own: a Node
// process writes to stdout (a container's log driver reads it) and stamps its own time.
// Parts of the service take a `LogSink` function, a narrow interface tests can collect from.
import { formatLogLine, type LogFields, type LogLevel } from '../../../common/log.ts';

export type { LogFields, LogLevel };

/** One event: `event` names what happened; `level` defaults to info. */
export type LogEvent = LogFields & { event: string; level?: LogLevel };
export type LogSink = (fields: LogEvent) => void;

/** A sink that writes every event as a line, with `base` (e.g. `service`, `node_id`) on each. */
export function createLogSink(
  base: LogFields,
  write: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): LogSink {
  return ({ level, event, ...fields }) =>
    write(formatLogLine(level ?? 'info', event, { ...base, ...fields }, new Date()));
}
