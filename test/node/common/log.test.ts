// The shared logger: one JSON line per event, the same field names everywhere, never a secret.
import { describe, expect, it } from 'vitest';
import { createLogger, formatLogLine, type LogLevel } from '../../../common/log.ts';

function capture(): {
  lines: Array<{ level: LogLevel; line: string }>;
  write: (level: LogLevel, line: string) => void;
} {
  const lines: Array<{ level: LogLevel; line: string }> = [];
  return { lines, write: (lvl, line) => lines.push({ level: lvl, line }) };
}

describe('logger', () => {
  it('writes one JSON line with level, event and the ids of its child context', () => {
    const sink = capture();
    const logger = createLogger({ service: 'worker' }, { write: sink.write }).child({ channel_id: 'ch1' });
    logger.warn('part late', { stream_id: 's1', lag_ms: 812 });
    expect(sink.lines).toHaveLength(1);
    expect(sink.lines[0]?.level).toBe('warn');
    expect(JSON.parse(sink.lines[0]?.line ?? '')).toEqual({
      level: 'warn',
      event: 'part late',
      service: 'worker',
      channel_id: 'ch1',
      stream_id: 's1',
      lag_ms: 812,
    });
  });

  it('drops lines below its level', () => {
    const sink = capture();
    const logger = createLogger({}, { write: sink.write, level: 'warn' });
    logger.debug('noise');
    logger.info('noise');
    logger.error('kept');
    expect(sink.lines.map((l) => JSON.parse(l.line).event)).toEqual(['kept']);
  });

  it('redacts credential-looking fields at any depth, whatever the caller passed', () => {
    const line = formatLogLine('info', 'authorize', {
      stream_key: 'live_abc',
      body: { password: 'hunter2', nested: { access_token: 't', ok: 1 } },
      Authorization: 'Bearer x',
    });
    expect(line).not.toContain('live_abc');
    expect(line).not.toContain('hunter2');
    expect(line).not.toContain('Bearer x');
    expect(JSON.parse(line).body.nested.ok).toBe(1);
  });

  it('serialises errors with their message and stack, and cannot be told to overwrite level or event', () => {
    const line = JSON.parse(
      formatLogLine('error', 'boom', { error: new Error('bad'), level: 'debug', event: 'x' }),
    );
    expect(line.level).toBe('error');
    expect(line.event).toBe('boom');
    expect(line.error.message).toBe('bad');
    expect(typeof line.error.stack).toBe('string');
  });
});
