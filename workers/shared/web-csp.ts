// The web app's Content-Security-Policy comes from web/public/_headers, with `connect-src 'self'`.
// Real-time playback (docs/webrtc.md, "WHEP in the web player") POSTs its SDP offer to the
// transcoder's WHEP endpoint, another origin: the Worker knows it from the same WHIP_INGEST_URL it
// builds `whep_url` from, so it adds exactly that origin to connect-src on the app's documents
// (which run_worker_first sends through the Worker) — nothing else is widened, and a deployment
// that moves its ingest needs no rebuild of the web app. Media from a MediaStream needs no
// directive (media-src governs URLs, not srcObject), and CSP has no say over the ICE/UDP traffic.

/** The ingest's origin as a CSP source (`https://host[:port]`), or null when it is not usable. */
export function readWhepOrigin(whipIngestUrl: string | undefined): string | null {
  if (whipIngestUrl === undefined) return null;
  let url: URL;
  try {
    url = new URL(whipIngestUrl);
  } catch {
    return null;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return null;
  // URL.origin is scheme://host[:port] with the host already normalised (punycode, lower case): no
  // space, quote or `;` that could end the directive and start another.
  return /^https?:\/\/[a-z0-9.\-[\]:]+$/.test(url.origin) ? url.origin : null;
}

/**
 * The same response with the WHEP origin added to a plain `connect-src 'self'` (HTML documents
 * only; the go-live page's broader policy and the OBS overlay, which plays nothing, are left as
 * they are).
 */
export function allowWhepConnect(response: Response, path: string, whepOrigin: string | null): Response {
  if (whepOrigin === null || path.startsWith('/overlay/')) return response;
  const policy = response.headers.get('content-security-policy');
  if (policy === null || !(response.headers.get('content-type') ?? '').startsWith('text/html'))
    return response;
  const widened = policy.replace(
    /(^|;\s*)connect-src 'self'(?=\s*(;|$))/,
    `$1connect-src 'self' ${whepOrigin}`,
  );
  if (widened === policy) return response;
  const copy = new Response(response.body, response);
  copy.headers.set('content-security-policy', widened);
  return copy;
}
