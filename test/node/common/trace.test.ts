// The W3C traceparent rules the transcoder writes by and the Worker reads by (common/trace.ts).
import { describe, expect, it } from 'vitest';
import {
  createSpanId,
  createTraceId,
  formatTraceparent,
  parseTraceparent,
  TraceId,
} from '../../../common/trace.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';

describe('traceparent', () => {
  it('writes version 00 with the trace id, a fresh span id per request and the sampled flag', () => {
    const traceId = createTraceId();
    expect(TraceId.safeParse(traceId).success).toBe(true);
    const first = formatTraceparent(traceId);
    const second = formatTraceparent(traceId);
    expect(first).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(first).not.toBe(second);
    expect(parseTraceparent(first)).toEqual({ traceId, parentId: first.slice(36, 52), sampled: true });
    expect(createSpanId()).toMatch(/^[0-9a-f]{16}$/);
  });

  it("reads the spec's example and a later version's extra fields", () => {
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-01`)).toEqual({
      traceId: TRACE,
      parentId: PARENT,
      sampled: true,
    });
    expect(parseTraceparent(` 00-${TRACE}-${PARENT}-00 `)?.sampled).toBe(false);
    expect(parseTraceparent(`cc-${TRACE}-${PARENT}-01-what-the-future-will-be-like`)?.traceId).toBe(TRACE);
  });

  it('refuses every malformed value by answering null, never by throwing', () => {
    const malformed = [
      undefined,
      null,
      '',
      'garbage',
      `00-${TRACE}-${PARENT}`,
      `00-${TRACE}-${PARENT}-01-extra`,
      `ff-${TRACE}-${PARENT}-01`,
      `00-${TRACE.toUpperCase()}-${PARENT}-01`,
      `00-${'0'.repeat(32)}-${PARENT}-01`,
      `00-${TRACE}-${'0'.repeat(16)}-01`,
      `00-${TRACE.slice(1)}-${PARENT}-01x`,
      `0g-${TRACE}-${PARENT}-01`,
      `cc-${TRACE}-${PARENT}-01x`,
      `00-${TRACE}-${PARENT}-0z`,
      `00_${TRACE}_${PARENT}_01`,
      `cc-${TRACE}-${PARENT}-01-${'x'.repeat(300)}`,
      '\u0000'.repeat(55),
    ];
    for (const value of malformed) expect(parseTraceparent(value), String(value)).toBeNull();
  });
});
