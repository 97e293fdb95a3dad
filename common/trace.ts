// One trace id per publish, carried the W3C Trace Context way (https://www.w3.org/TR/trace-context/)
// so one stream's story can be read across the transcoder, the Worker, the LiveStream object and
// the queue consumers: `grep <trace id>` over their logs shows one publish from connect to end
// (docs/operations.md). The transcoder mints the trace id when a publisher connects; every call it
// makes to the origin for that publish carries `traceparent: 00-<trace id>-<span id>-01`, and the
// Worker logs the trace id (as `trace_id`, the field common/log.ts names) and hands it on.
//
// The Worker reads a header anyone holding the ingest secret can write: a value that is not a
// well-formed traceparent is ignored (no trace id), never an error, and the parse below holds
// nothing beyond the header's bounded length. Runs in Node and in workerd (Web Crypto only).
import { z } from 'zod';

export const TRACEPARENT_HEADER = 'traceparent';

/** "trace-id = 32HEXDIGLC ; 16 bytes array identifier. All zeroes forbidden" */
export const TraceId = z
  .string()
  .regex(/^[0-9a-f]{32}$/)
  .refine((value) => !/^0+$/.test(value), 'an all-zero trace id is invalid');
export type TraceId = z.infer<typeof TraceId>;

/** Longer than any traceparent a future version should send: the parse reads no more than this. */
const MAX_TRACEPARENT_LENGTH = 256;
/** version "00": exactly `00-` + 32 + `-` + 16 + `-` + 2 characters. */
const VERSION_00_LENGTH = 55;
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})/;

export interface TraceParent {
  traceId: TraceId;
  /** The caller's span (W3C "parent-id"). */
  parentId: string;
  sampled: boolean;
}

function randomHex(bytes: number): string {
  const buffer = crypto.getRandomValues(new Uint8Array(bytes));
  let hex = '';
  for (const byte of buffer) hex += byte.toString(16).padStart(2, '0');
  return hex;
}

/** A fresh random id of `bytes` bytes, never all zero (which the spec forbids). */
function randomId(bytes: number): string {
  for (;;) {
    const id = randomHex(bytes);
    if (!/^0+$/.test(id)) return id;
  }
}

/** A new trace id: 16 random bytes, lowercase hex. */
export function createTraceId(): TraceId {
  return randomId(16);
}

/** A new span id (W3C "parent-id" of the request it goes out on): 8 random bytes, lowercase hex. */
export function createSpanId(): string {
  return randomId(8);
}

/**
 * The header a request of trace `traceId` carries: version 00, a fresh span id per request, and
 * the sampled flag ("the caller may have recorded trace data"; these logs are that record).
 */
export function formatTraceparent(traceId: TraceId, spanId: string = createSpanId()): string {
  return `00-${traceId}-${spanId}-01`;
}

/**
 * Reads a traceparent header; null when absent or malformed. The spec's rules: lowercase hex
 * only; version ff is invalid; version 00 is exactly 55 characters; a later version may append
 * fields after a `-`, which are ignored; an all-zero trace id or parent id is invalid.
 */
export function parseTraceparent(header: string | null | undefined): TraceParent | null {
  if (header === null || header === undefined) return null;
  const value = header.trim();
  if (value.length < VERSION_00_LENGTH || value.length > MAX_TRACEPARENT_LENGTH) return null;
  const match = TRACEPARENT.exec(value);
  if (match === null) return null;
  const [, version, traceId, parentId, flags] = match;
  if (version === undefined || traceId === undefined || parentId === undefined || flags === undefined)
    return null;
  if (version === 'ff') return null;
  if (version === '00' && value.length !== VERSION_00_LENGTH) return null;
  if (value.length > VERSION_00_LENGTH && value[VERSION_00_LENGTH] !== '-') return null;
  if (/^0+$/.test(traceId) || /^0+$/.test(parentId)) return null;
  return { traceId, parentId, sampled: (Number.parseInt(flags, 16) & 1) === 1 };
}
