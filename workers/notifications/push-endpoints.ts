// Which push subscriptions the platform accepts. The endpoint is a URL the browser hands over and
// the queue consumer will POST to, so an unchecked one would let any user point the Worker at any
// host (an internal address, someone else's API) once per follower notification. Only the push
// services of the browsers in use are accepted, over https on the default port, and the keys must
// be what RFC 8291 needs: a point on P-256 and a 16-byte secret.
import { decodeBase64Url, importBrowserKey, type PushKeys } from './web-push.ts';

/** Chrome (FCM), Firefox (Mozilla autopush), Safari (Apple), Edge (WNS, one host per region). */
const PUSH_SERVICE_HOSTS = ['fcm.googleapis.com', 'updates.push.services.mozilla.com', 'web.push.apple.com'];
const PUSH_SERVICE_HOST_SUFFIXES = ['.notify.windows.com'];
export const MAX_ENDPOINT_LENGTH = 1024;

export type EndpointCheck = { ok: true; url: URL } | { ok: false; reason: string };

/** Accepts only https URLs on a known push service's host, default port, no credentials. */
export function checkPushEndpoint(endpoint: string): EndpointCheck {
  if (endpoint.length > MAX_ENDPOINT_LENGTH) return { ok: false, reason: 'endpoint too long' };
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return { ok: false, reason: 'endpoint is not a URL' };
  }
  if (url.protocol !== 'https:') return { ok: false, reason: 'endpoint must be https' };
  if (url.port !== '' || url.username !== '' || url.password !== '') {
    return { ok: false, reason: 'endpoint may not name a port or credentials' };
  }
  const host = url.hostname;
  const known =
    PUSH_SERVICE_HOSTS.includes(host) ||
    PUSH_SERVICE_HOST_SUFFIXES.some(
      (suffix) => host.endsWith(suffix) && /^[a-z0-9-]+$/.test(host.slice(0, -suffix.length)),
    );
  if (!known) return { ok: false, reason: 'endpoint is not a known push service' };
  if (url.pathname.length < 2) return { ok: false, reason: 'endpoint has no push resource' };
  return { ok: true, url };
}

/** The subscription's keys decoded and checked; null when they cannot be encrypted to. */
export async function decodePushKeys(p256dh: string, auth: string): Promise<PushKeys | null> {
  const point = decodeBase64Url(p256dh);
  const secret = decodeBase64Url(auth);
  if (!point || !secret || secret.length !== 16) return null;
  if (!(await importBrowserKey(point))) return null;
  return { p256dh: point, auth: secret };
}
