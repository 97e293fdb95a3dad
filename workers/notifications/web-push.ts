// One Web Push message, built with WebCrypto alone: the payload encrypted for the browser
// (RFC 8291, "aes128gcm" content coding of RFC 8188) and the application server's identity
// (VAPID, RFC 8292: an ES256 JWT plus the public key in the Authorization header). No library:
// every step is a SubtleCrypto call the Workers runtime has (ECDH P-256, HKDF-SHA-256, AES-128-GCM,
// ECDSA P-256).
import { decodeBase64, encodeBase64Url } from '../shared/crypto.ts';

const encoder = new TextEncoder();

/** RFC 8188 section 2: a record size; one record holds the whole payload (RFC 8291 section 4). */
const RECORD_SIZE = 4096;
/** salt (16) + rs (4) + idlen (1) + keyid (65: the sender's uncompressed P-256 key). */
const HEADER_BYTES = 16 + 4 + 1 + 65;
/** RFC 8291 section 4: "push message payloads ... MUST be no more than 4096 octets" once encrypted. */
export const MAX_PUSH_PLAINTEXT_BYTES = RECORD_SIZE - HEADER_BYTES - 16 - 1;
/** RFC 8292 section 2: "an "exp" (Expiry) claim ... MUST NOT be more than 24 hours from the time of the request". */
const VAPID_LIFETIME_SECONDS = 12 * 3600;

export function decodeBase64Url(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]*={0,2}$/.test(text)) return null;
  const plain = text.replace(/=+$/, '').replaceAll('-', '+').replaceAll('_', '/');
  if (plain.length % 4 === 1) return null;
  return decodeBase64(plain + '='.repeat((4 - (plain.length % 4)) % 4));
}

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

async function hkdf(salt: Uint8Array, ikm: Uint8Array, info: Uint8Array, bytes: number): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey('raw', concat(ikm), 'HKDF', false, ['deriveBits']);
  const bits = await crypto.subtle.deriveBits(
    { name: 'HKDF', hash: 'SHA-256', salt: concat(salt), info: concat(info) },
    key,
    bytes * 8,
  );
  return new Uint8Array(bits);
}

/** The browser's side of a subscription (PushSubscription.getKey('p256dh'), getKey('auth')). */
export interface PushKeys {
  /** 65 bytes: an uncompressed P-256 point. */
  p256dh: Uint8Array;
  /** 16 bytes. */
  auth: Uint8Array;
}

/** Imports a browser's key; null when the bytes are not a point on P-256. */
export async function importBrowserKey(p256dh: Uint8Array): Promise<CryptoKey | null> {
  if (p256dh.length !== 65 || p256dh[0] !== 0x04) return null;
  try {
    return await crypto.subtle.importKey(
      'raw',
      concat(p256dh),
      { name: 'ECDH', namedCurve: 'P-256' },
      false,
      [],
    );
  } catch {
    return null;
  }
}

/** Fixed inputs for the RFC 8291 appendix A example; a real message draws both at random. */
export interface EncryptionSeed {
  senderKeys: CryptoKeyPair;
  salt: Uint8Array;
}

/**
 * The request body of one push message: RFC 8188's header (salt, record size, the sender's
 * ephemeral public key as keyid) and the payload in one AES-128-GCM record.
 */
export async function encryptPushPayload(
  keys: PushKeys,
  plaintext: Uint8Array,
  seed?: EncryptionSeed,
): Promise<Uint8Array<ArrayBuffer>> {
  if (plaintext.length > MAX_PUSH_PLAINTEXT_BYTES) throw new Error('push payload too large');
  const browserKey = await importBrowserKey(keys.p256dh);
  if (!browserKey || keys.auth.length !== 16) throw new Error('invalid push subscription keys');
  const sender =
    seed?.senderKeys ??
    ((await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, [
      'deriveBits',
    ])) as CryptoKeyPair);
  const senderPublic = new Uint8Array(
    (await crypto.subtle.exportKey('raw', sender.publicKey)) as ArrayBuffer,
  );
  // WebCrypto names the peer key `public`; the generated Workers types spell it `$public` (their
  // generator keeps the C++ field's escape), so the algorithm is built untyped and passed as is.
  const ecdh = { name: 'ECDH', public: browserKey };
  const ecdhSecret = new Uint8Array(await crypto.subtle.deriveBits(ecdh, sender.privateKey, 256));
  // RFC 8291 section 3.4: key_info = "WebPush: info" || 0x00 || ua_public || as_public;
  // IKM = HKDF(auth_secret, ecdh_secret, key_info, 32).
  const keyInfo = concat(encoder.encode('WebPush: info\0'), keys.p256dh, senderPublic);
  const ikm = await hkdf(keys.auth, ecdhSecret, keyInfo, 32);
  // RFC 8188 section 2.2 and 2.3: CEK = HKDF(salt, IKM, "Content-Encoding: aes128gcm" || 0x00, 16),
  // NONCE = HKDF(salt, IKM, "Content-Encoding: nonce" || 0x00, 12) (record 0: the nonce as is).
  const salt = seed?.salt ?? crypto.getRandomValues(new Uint8Array(16));
  const cek = await hkdf(salt, ikm, encoder.encode('Content-Encoding: aes128gcm\0'), 16);
  const nonce = await hkdf(salt, ikm, encoder.encode('Content-Encoding: nonce\0'), 12);
  const aesKey = await crypto.subtle.importKey('raw', concat(cek), 'AES-GCM', false, ['encrypt']);
  // RFC 8188 section 2: the last record's padding delimiter is 0x02 (no further padding).
  const record = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: 'AES-GCM', iv: concat(nonce) },
      aesKey,
      concat(plaintext, new Uint8Array([2])),
    ),
  );
  const header = new Uint8Array(HEADER_BYTES);
  header.set(salt, 0);
  new DataView(header.buffer).setUint32(16, RECORD_SIZE);
  header[20] = senderPublic.length;
  header.set(senderPublic, 21);
  return concat(header, record);
}

/** The application server's VAPID key pair (RFC 8292), from the deployment's secrets. */
export interface VapidKeys {
  /** base64url of the 65-byte uncompressed public key: what browsers get as applicationServerKey. */
  publicKey: string;
  signingKey: CryptoKey;
  /** A mailto: or https: contact for the push service's operator (RFC 8292 section 2.1). */
  subject: string;
}

/**
 * Reads VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY (base64url of the 32-byte scalar) and VAPID_SUBJECT;
 * null when they are unset or do not make a P-256 key pair (push is then off, in-app notifications
 * are not).
 */
export async function loadVapidKeys(env: {
  VAPID_PUBLIC_KEY?: string;
  VAPID_PRIVATE_KEY?: string;
  VAPID_SUBJECT?: string;
}): Promise<VapidKeys | null> {
  const { VAPID_PUBLIC_KEY: publicKey, VAPID_PRIVATE_KEY: privateKey, VAPID_SUBJECT: subject } = env;
  if (!publicKey || !privateKey || !subject || !/^(mailto:|https:\/\/)/.test(subject)) return null;
  const point = decodeBase64Url(publicKey);
  const scalar = decodeBase64Url(privateKey);
  if (point?.length !== 65 || point[0] !== 0x04 || scalar?.length !== 32) return null;
  try {
    const signingKey = await crypto.subtle.importKey(
      'jwk',
      {
        kty: 'EC',
        crv: 'P-256',
        x: encodeBase64Url(point.subarray(1, 33)),
        y: encodeBase64Url(point.subarray(33, 65)),
        d: encodeBase64Url(scalar),
      },
      { name: 'ECDSA', namedCurve: 'P-256' },
      false,
      ['sign'],
    );
    return { publicKey: encodeBase64Url(point), signingKey, subject };
  } catch {
    return null;
  }
}

/**
 * RFC 8292 section 3: `Authorization: vapid t=<JWT>, k=<public key>`, the JWT signed with ES256
 * (JWS's ES256 signature is the raw r || s that WebCrypto's ECDSA returns), its audience the push
 * resource's origin.
 */
export async function buildVapidAuthorization(
  vapid: VapidKeys,
  endpoint: URL,
  nowMs: number,
): Promise<string> {
  const header = encodeBase64Url(encoder.encode(JSON.stringify({ typ: 'JWT', alg: 'ES256' })));
  const claims = encodeBase64Url(
    encoder.encode(
      JSON.stringify({
        aud: endpoint.origin,
        exp: Math.floor(nowMs / 1000) + VAPID_LIFETIME_SECONDS,
        sub: vapid.subject,
      }),
    ),
  );
  const signature = await crypto.subtle.sign(
    { name: 'ECDSA', hash: 'SHA-256' },
    vapid.signingKey,
    encoder.encode(`${header}.${claims}`),
  );
  return `vapid t=${header}.${claims}.${encodeBase64Url(new Uint8Array(signature))}, k=${vapid.publicKey}`;
}

/** What one push request needs besides the subscription. */
export interface PushMessage {
  payload: Uint8Array;
  /** RFC 8030 section 5.2: seconds the push service keeps an undelivered message. */
  ttlSeconds: number;
  /** RFC 8030 section 5.4: a later message with the same topic replaces an undelivered one (≤ 32 base64url characters). */
  topic: string;
  urgency: 'very-low' | 'low' | 'normal' | 'high';
}

/** The RFC 8030 request that delivers `message` to one subscription. */
export async function buildPushRequest(
  endpoint: URL,
  keys: PushKeys,
  message: PushMessage,
  vapid: VapidKeys,
  nowMs: number,
): Promise<Request> {
  const body = await encryptPushPayload(keys, message.payload);
  return new Request(endpoint, {
    method: 'POST',
    headers: {
      Authorization: await buildVapidAuthorization(vapid, endpoint, nowMs),
      'Content-Encoding': 'aes128gcm',
      'Content-Type': 'application/octet-stream',
      TTL: String(message.ttlSeconds),
      Topic: message.topic,
      Urgency: message.urgency,
    },
    body,
    redirect: 'manual',
  });
}
