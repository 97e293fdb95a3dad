// SRT encryption, receiver side (draft-sharabayko-srt-01 §3.2.2 and §6; haicrypt in libsrt):
// the caller sends its Stream Encrypting Key(s) wrapped with a Key Encrypting Key derived from the
// passphrase, in the KMREQ extension of its conclusion handshake. We derive the KEK, unwrap, and
// either hold the SEKs (and echo the KM as KMRSP) or refuse the caller: RFC 3394's integrity check
// fails on a wrong passphrase, so a wrong passphrase is known before any media is accepted.
import { createDecipheriv, pbkdf2Sync } from 'node:crypto';

/** §3.2.2: "Version (3 bits) ... 1", "Packet Type (4 bits) ... 2 (KMmsg)", "Signature ... 0x2029" (HAI). */
const KM_VERSION = 1;
const KM_PACKET_TYPE = 2;
const KM_SIGNATURE = 0x2029;
/** §3.2.2 Cipher: 2 = AES-CTR (AES-GCM, 4, arrived in libsrt 1.5.2 and is not offered here). */
const CIPHER_AES_CTR = 2;
/** "SE ... 2: MPEG-TS/SRT". */
const STREAM_ENCAPSULATION_SRT = 2;
const KM_HEADER_SIZE = 16;
/** §6.1.4: "KEK = PBKDF2(passphrase, LSB(64,Salt), Iter, KLen)", Iter = 2048. */
const PBKDF2_ITERATIONS = 2048;
const PBKDF2_SALT_BYTES = 8;
/** RFC 3394 §2.2.3.1 default initial value. */
const KEY_WRAP_IV = Buffer.from('a6a6a6a6a6a6a6a6', 'hex');
/** SRTO_PASSPHRASE: "a string of 10 to 79 characters". */
export const MIN_PASSPHRASE_LENGTH = 10;
export const MAX_PASSPHRASE_LENGTH = 79;

export const KeyFlag = { EVEN: 1, ODD: 2 } as const;

export interface KeyMaterial {
  /** 16, 24 or 32 (AES-128/192/256): the caller's pbkeylen. */
  readonly keyLength: number;
  readonly salt: Buffer;
  /** Which keys the message carries: KeyFlag.EVEN, ODD, or both (3). */
  readonly keyFlags: number;
  readonly wrapped: Buffer;
}

export type KmReadError = 'malformed' | 'unsupported_cipher';

/** §3.2.2 Key Material message; every length is checked against what arrived. */
export function readKeyMaterial(
  message: Buffer,
): { ok: true; km: KeyMaterial } | { ok: false; error: KmReadError } {
  if (message.length < KM_HEADER_SIZE) return { ok: false, error: 'malformed' };
  const first = message[0] ?? 0;
  if (first >>> 4 !== KM_VERSION || (first & 0xf) !== KM_PACKET_TYPE)
    return { ok: false, error: 'malformed' };
  if (message.readUInt16BE(1) !== KM_SIGNATURE) return { ok: false, error: 'malformed' };
  const keyFlags = (message[3] ?? 0) & 0x3;
  // KEKI 0 is "the default stream associated key"; other indexes are for pre-shared KEK tables.
  if (message.readUInt32BE(4) !== 0 || keyFlags === 0) return { ok: false, error: 'malformed' };
  if (message[8] !== CIPHER_AES_CTR || message[9] !== 0) return { ok: false, error: 'unsupported_cipher' };
  if (message[10] !== STREAM_ENCAPSULATION_SRT) return { ok: false, error: 'malformed' };
  const saltLength = (message[14] ?? 0) * 4;
  const keyLength = (message[15] ?? 0) * 4;
  if (saltLength !== 16 || ![16, 24, 32].includes(keyLength)) return { ok: false, error: 'malformed' };
  const keys = keyFlags === 3 ? 2 : 1;
  const wrapLength = keys * keyLength + 8;
  if (message.length !== KM_HEADER_SIZE + saltLength + wrapLength) return { ok: false, error: 'malformed' };
  return {
    ok: true,
    km: {
      keyLength,
      salt: Buffer.from(message.subarray(KM_HEADER_SIZE, KM_HEADER_SIZE + saltLength)),
      keyFlags,
      wrapped: Buffer.from(message.subarray(KM_HEADER_SIZE + saltLength)),
    },
  };
}

export interface StreamKeys {
  readonly salt: Buffer;
  readonly keyLength: number;
  readonly even: Buffer | null;
  readonly odd: Buffer | null;
}

/**
 * Derives the KEK from `passphrase` and unwraps the SEK(s). Null when the unwrap's integrity check
 * fails: "If the unwrap fails, the passphrase is wrong" (a caller with another passphrase).
 */
export function unwrapKeys(km: KeyMaterial, passphrase: string): StreamKeys | null {
  const kek = pbkdf2Sync(
    passphrase,
    km.salt.subarray(km.salt.length - PBKDF2_SALT_BYTES),
    PBKDF2_ITERATIONS,
    km.keyLength,
    'sha1',
  );
  let plain: Buffer;
  try {
    const decipher = createDecipheriv(`id-aes${km.keyLength * 8}-wrap`, kek, KEY_WRAP_IV);
    plain = Buffer.concat([decipher.update(km.wrapped), decipher.final()]);
  } catch {
    return null;
  }
  const both = km.keyFlags === 3;
  const first = plain.subarray(0, km.keyLength);
  const second = both ? plain.subarray(km.keyLength, 2 * km.keyLength) : null;
  return {
    salt: km.salt,
    keyLength: km.keyLength,
    // "If both keys are present, the even key comes first."
    even: km.keyFlags & KeyFlag.EVEN ? Buffer.from(first) : null,
    odd: both
      ? Buffer.from(second ?? Buffer.alloc(0))
      : km.keyFlags === KeyFlag.ODD
        ? Buffer.from(first)
        : null,
  };
}

/** Folds a refreshed key (a KMREQ sent later as a control packet, §6.1.6) into the keys held. */
export function mergeKeys(held: StreamKeys, update: StreamKeys): StreamKeys {
  return {
    salt: update.salt,
    keyLength: update.keyLength,
    even: update.even ?? held.even,
    odd: update.odd ?? held.odd,
  };
}

/**
 * §6.2.2 AES-CTR: "IV = (MSB(112, Salt) << 2) XOR (PktSeqNo)" — libsrt's hcrypt_SetCtrIV puts the
 * packet index (the 32-bit sequence word) at bytes 10..13 of a zeroed block, XORs the salt's first
 * 112 bits over bytes 0..13, and leaves the last 16 bits as the block counter.
 */
export function buildCtrIv(salt: Buffer, seq: number): Buffer {
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(seq >>> 0, 10);
  for (let i = 0; i < 14; i += 1) iv[i] = (iv[i] ?? 0) ^ (salt[i] ?? 0);
  return iv;
}

/** Decrypts one data packet's payload; null when the key it names was never sent. */
export function decryptPayload(
  keys: StreamKeys,
  keyIndex: number,
  seq: number,
  payload: Buffer,
): Buffer | null {
  const key = keyIndex === KeyFlag.EVEN ? keys.even : keyIndex === KeyFlag.ODD ? keys.odd : null;
  if (key === null) return null;
  const decipher = createDecipheriv(`aes-${keys.keyLength * 8}-ctr`, key, buildCtrIv(keys.salt, seq));
  return Buffer.concat([decipher.update(payload), decipher.final()]);
}
