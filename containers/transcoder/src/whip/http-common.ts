// What the WHIP (ingest) and WHEP (playback) endpoints share on their one HTTP port: the typed error
// that becomes the JSON error body, the CORS headers (open: the only credential is a bearer token or
// an unguessable session URL, never a cookie) and a bounded, timed read of an SDP body.
import type { IncomingMessage, ServerResponse } from 'node:http';

const BODY_TIMEOUT_MS = 5_000;

export class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly headers: Record<string, string>;
  constructor(status: number, code: string, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

export const CORS_HEADERS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'POST, DELETE, PATCH, OPTIONS',
  'access-control-allow-headers': 'authorization, content-type, if-match',
  'access-control-expose-headers': 'location, etag, accept-post, link',
};

export function sendJsonError(res: ServerResponse, error: HttpError): void {
  res.writeHead(error.status, { ...CORS_HEADERS, 'content-type': 'application/json', ...error.headers });
  res.end(JSON.stringify({ error: { code: error.code, message: error.message } }));
}

/** 415 unless the body is declared `application/sdp` (RFC 9725 §4.2, draft-ietf-wish-whep §4.2). */
export function requireSdpContentType(req: IncomingMessage): void {
  const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (contentType !== 'application/sdp') {
    throw new HttpError(415, 'unsupported_media_type', 'The offer is sent as application/sdp');
  }
}

/** Reads at most `limit` bytes (413 past it, declared or sent) within 5 s (then the socket closes). */
export async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > limit) throw new HttpError(413, 'payload_too_large', `An offer is at most ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  const timer = setTimeout(() => req.destroy(), BODY_TIMEOUT_MS);
  try {
    for await (const chunk of req) {
      const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
      size += buffer.length;
      if (size > limit) throw new HttpError(413, 'payload_too_large', `An offer is at most ${limit} bytes`);
      chunks.push(buffer);
    }
  } finally {
    clearTimeout(timer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
