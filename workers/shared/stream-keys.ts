// Stream keys are derived, never stored: key = "live_" + base64url(HMAC-SHA256(STREAM_KEY_SECRET,
// "<channel id>:<version>")). The channel row keeps the key's SHA-256 (unique index, for the ingest
// lookup) and the version; resetting bumps the version, so the old key stops matching at once.
import { z } from 'zod';
import { ChannelTier } from '../../protocol/ingest.ts';
import { encodeBase64Url, hashSha256Hex, signHmacSha256 } from './crypto.ts';

export const STREAM_KEY_PREFIX = 'live_';
/** 27 bytes of the MAC (216 bits) give 36 base64url characters, 41 with the prefix. */
const STREAM_KEY_MAC_BYTES = 27;

export interface ChannelForIngest {
  id: string;
  user_id: string;
  name: string;
  display_name: string;
  tier: ChannelTier;
  title: string;
  category_id: number | null;
  language: string;
  tags: string[];
}

export async function deriveStreamKey(secret: string, channelId: string, version: number): Promise<string> {
  const mac = await signHmacSha256(secret, `${channelId}:${version}`);
  return STREAM_KEY_PREFIX + encodeBase64Url(mac.subarray(0, STREAM_KEY_MAC_BYTES));
}

/**
 * SRT ingest's passphrase (docs/srt.md): derived from the stream key, so it changes when the key is
 * reset and is never stored. 32 base64url characters (SRTO_PASSPHRASE takes 10 to 79), safe in a
 * URL's query string as ffmpeg and OBS read it.
 */
export async function deriveSrtPassphrase(secret: string, streamKey: string): Promise<string> {
  const mac = await signHmacSha256(secret, `edgestream-srt-passphrase:${streamKey}`);
  return encodeBase64Url(mac).slice(0, 32);
}

/** `srt://host:port?streamid=<key>&passphrase=<passphrase>&pbkeylen=16`, as ffmpeg and OBS take it. */
export async function buildSrtUrl(base: string, secret: string, streamKey: string): Promise<string> {
  const passphrase = await deriveSrtPassphrase(secret, streamKey);
  return `${base}?streamid=${streamKey}&passphrase=${passphrase}&pbkeylen=16`;
}

export async function hashStreamKey(key: string): Promise<string> {
  return hashSha256Hex(key);
}

const ChannelForIngestRow = z.object({
  id: z.string(),
  user_id: z.string(),
  name: z.string(),
  display_name: z.string(),
  tier: ChannelTier,
  title: z.string(),
  category_id: z.number().int().nullable(),
  language: z.string(),
  tags: z.string(),
});

export const TagsJson = z.array(z.string());

/** Parses a tags column (a JSON array of strings); a corrupt value reads as no tags. */
export function parseTags(json: string): string[] {
  try {
    const parsed = TagsJson.safeParse(JSON.parse(json));
    return parsed.success ? parsed.data : [];
  } catch {
    return [];
  }
}

/**
 * The one D1 call the lookup makes, declared structurally so Node-side tools (bench/fleet-placement.ts)
 * can import the key functions without the Worker's global types; a D1Database is one.
 */
interface StreamKeyDatabase {
  prepare(query: string): { bind(...values: unknown[]): { first(): Promise<unknown> } };
}

export async function findChannelByStreamKey(
  db: StreamKeyDatabase,
  key: string,
): Promise<ChannelForIngest | null> {
  if (!key.startsWith(STREAM_KEY_PREFIX) || key.length > 200) return null;
  const row = await db
    .prepare(
      `SELECT id, user_id, name, display_name, tier, title, category_id, language, tags
       FROM channels WHERE stream_key_hash = ?`,
    )
    .bind(await hashStreamKey(key))
    .first();
  if (!row) return null;
  const channel = ChannelForIngestRow.parse(row);
  return { ...channel, tags: parseTags(channel.tags) };
}
