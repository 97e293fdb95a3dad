// Prints a new VAPID key pair (RFC 8292) for Web Push, as the Worker reads it: set both with
// `wrangler secret put VAPID_PUBLIC_KEY` / `VAPID_PRIVATE_KEY`, and VAPID_SUBJECT to a mailto: or
// https: contact (docs/api.md "Notifications"). Changing the pair invalidates every browser's
// subscription, so keep it for the deployment's life.
import { webcrypto } from 'node:crypto';

const pair = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
  'sign',
  'verify',
]);
const publicKey = Buffer.from(await webcrypto.subtle.exportKey('raw', pair.publicKey)).toString('base64url');
const jwk = await webcrypto.subtle.exportKey('jwk', pair.privateKey);
console.log(`VAPID_PUBLIC_KEY="${publicKey}"`);
console.log(`VAPID_PRIVATE_KEY="${jwk.d}"`);
