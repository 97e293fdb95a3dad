// Answers a GET or HEAD for a media object in R2: ETag and If-None-Match, single byte ranges
// (206 with Content-Range, 416 when unsatisfiable), and the cache lifetime the caller picks.

export type ByteRange = { offset: number; length: number } | 'unsatisfiable' | null;

/**
 * Reads a `Range: bytes=...` header against an object of `size` bytes. Multi-range requests and
 * other units are answered with the whole object (RFC 9110 lets a server ignore Range).
 */
export function parseByteRange(header: string | null, size: number): ByteRange {
  if (!header) return null;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return null;
  const [, startText = '', endText = ''] = match;
  if (startText === '' && endText === '') return null;
  if (startText === '') {
    // "bytes=-N": the last N bytes.
    const suffix = Number(endText);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    const length = Math.min(suffix, size);
    return { offset: size - length, length };
  }
  const start = Number(startText);
  if (start >= size) return 'unsatisfiable';
  const end = endText === '' ? size - 1 : Math.min(Number(endText), size - 1);
  if (end < start) return 'unsatisfiable';
  return { offset: start, length: end - start + 1 };
}

function isNotModified(request: Request, etag: string | null): boolean {
  const header = request.headers.get('if-none-match');
  if (!header || etag === null) return false;
  return header.split(',').some((tag) => {
    const value = tag.trim();
    return value === '*' || value === etag || value === `W/${etag}`;
  });
}

export interface MediaResponseOptions {
  contentType: string;
  cacheControl: string;
}

function buildHeaders(object: R2Object, options: MediaResponseOptions): Headers {
  return new Headers({
    'Content-Type': options.contentType,
    'Cache-Control': options.cacheControl,
    ETag: object.httpEtag,
    'Accept-Ranges': 'bytes',
  });
}

/**
 * The response to `request` for bytes already in memory (a part every waiting viewer shares):
 * the same HEAD, Range and If-None-Match rules as an R2 object, so a viewer's Range request can
 * share the one wait for the part with everyone else's, and a cached object can answer them all.
 * `etag` null: no ETag, so If-None-Match never matches.
 */
export function serveBytes(
  bytes: ArrayBuffer,
  etag: string | null,
  request: Request,
  options: MediaResponseOptions,
): Response {
  const headers = new Headers({
    'Content-Type': options.contentType,
    'Cache-Control': options.cacheControl,
    'Accept-Ranges': 'bytes',
  });
  if (etag !== null) headers.set('ETag', etag);
  if (isNotModified(request, etag)) return new Response(null, { status: 304, headers });
  const range = parseByteRange(request.headers.get('range'), bytes.byteLength);
  if (range === 'unsatisfiable') {
    headers.set('Content-Range', `bytes */${bytes.byteLength}`);
    return new Response(null, { status: 416, headers });
  }
  const body = range ? bytes.slice(range.offset, range.offset + range.length) : bytes;
  if (range)
    headers.set(
      'Content-Range',
      `bytes ${range.offset}-${range.offset + range.length - 1}/${bytes.byteLength}`,
    );
  headers.set('Content-Length', String(body.byteLength));
  return new Response(request.method === 'HEAD' ? null : body, { status: range ? 206 : 200, headers });
}

/** The response for an R2 object at `key`, or null when there is no such object. */
export async function serveMediaObject(
  bucket: R2Bucket,
  key: string,
  request: Request,
  options: MediaResponseOptions,
): Promise<Response | null> {
  const rangeHeader = request.headers.get('range');
  if (request.method === 'GET' && !rangeHeader) {
    // The common case (players fetching whole parts and segments) costs one R2 call.
    const object = await bucket.get(key);
    if (!object) return null;
    const headers = buildHeaders(object, options);
    if (isNotModified(request, object.httpEtag)) {
      await object.body.cancel();
      return new Response(null, { status: 304, headers });
    }
    headers.set('Content-Length', String(object.size));
    return new Response(object.body, { status: 200, headers });
  }
  const head = await bucket.head(key);
  if (!head) return null;
  const headers = buildHeaders(head, options);
  if (isNotModified(request, head.httpEtag)) return new Response(null, { status: 304, headers });
  const range = parseByteRange(rangeHeader, head.size);
  if (range === 'unsatisfiable') {
    headers.set('Content-Range', `bytes */${head.size}`);
    return new Response(null, { status: 416, headers });
  }
  const status = range ? 206 : 200;
  if (range)
    headers.set('Content-Range', `bytes ${range.offset}-${range.offset + range.length - 1}/${head.size}`);
  headers.set('Content-Length', String(range ? range.length : head.size));
  if (request.method === 'HEAD') return new Response(null, { status, headers });
  const object = await bucket.get(key, range ? { range } : {});
  if (!object) return null;
  return new Response(object.body, { status, headers });
}
