// The transcoder's log lines carry the fields of common/log.ts (time, level, event, ids) and never
// a secret, whatever a caller passes.
import { describe, expect, it } from 'vitest';
import { createLogSink } from '../../../containers/transcoder/src/log.ts';

function capture(): { lines: string[]; parsed(): unknown[]; write: (line: string) => void } {
  const lines: string[] = [];
  return { lines, parsed: () => lines.map((line) => JSON.parse(line)), write: (line) => lines.push(line) };
}

describe('transcoder log sink', () => {
  it('writes one JSON line with time, level (info by default), event, the base fields and the ids', () => {
    const out = capture();
    const log = createLogSink({ service: 'transcoder' }, out.write);
    log({ event: 'pipeline.closed', stream_id: 's-1', channel_id: 'c-1', reason: 'kicked' });
    log({ level: 'warn', event: 'rtmp.connection_closed', remote_address: '127.0.0.1' });
    expect(out.parsed()).toEqual([
      {
        time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        level: 'info',
        event: 'pipeline.closed',
        service: 'transcoder',
        stream_id: 's-1',
        channel_id: 'c-1',
        reason: 'kicked',
      },
      expect.objectContaining({ level: 'warn', event: 'rtmp.connection_closed' }),
    ]);
  });

  it('redacts a stream key, a secret or a token even when a caller passes one, nested too', () => {
    const out = capture();
    const log = createLogSink({ service: 'transcoder' }, out.write);
    log({
      event: 'rtmp.publish_refused',
      streamKey: 'live_abcdefgh',
      stream_key_prefix: 'live…',
      request: { INGEST_SECRET: 'hunter2hunter2', authorization: 'Bearer x' },
    });
    expect(out.lines[0]).not.toContain('live_abcdefgh');
    expect(out.lines[0]).not.toContain('hunter2');
    expect(out.lines[0]).not.toContain('Bearer');
    expect(out.parsed()[0]).toMatchObject({ stream_key_prefix: 'live…', streamKey: '[redacted]' });
  });
});
