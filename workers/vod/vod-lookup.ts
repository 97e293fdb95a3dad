// Which stream's media a VOD plays, and whether a stream's media has been withdrawn (its VOD
// deleted), for the playback routes: one D1 read per VOD or stream per isolate per
// VOD_LOOKUP_TTL_MS instead of one per segment request (a player fetches one every 2 s, per viewer).
import { z } from 'zod';
import { deriveVodId } from './finalize-vod.ts';

/**
 * How long an isolate trusts a lookup. A DELETE forgets the entry in the isolate that served it
 * (forgetVodStream); other isolates keep serving a deleted VOD's segments for at most this long
 * (the playlists 404 at once: they are the first objects the purge removes).
 */
export const VOD_LOOKUP_TTL_MS = 30_000;
/** Entries kept per isolate; the oldest go first. */
const MAX_ENTRIES = 1000;

const lookups = new Map<string, { streamId: string | null; expiresAt: number }>();

/** The stream whose media a ready VOD plays; null for unknown, deleting and deleted VODs. */
export async function findVodStream(db: D1Database, vodId: string, now = Date.now()): Promise<string | null> {
  const cached = lookups.get(vodId);
  if (cached && cached.expiresAt > now) return cached.streamId;
  const row = await db
    .prepare("SELECT stream_id FROM vods WHERE id = ? AND status = 'ready'")
    .bind(vodId)
    .first();
  const streamId = row ? VodStream.parse(row).stream_id : null;
  // A miss is not remembered: a VOD being finalized right now must play as soon as it is ready.
  if (streamId !== null) {
    lookups.delete(vodId);
    lookups.set(vodId, { streamId, expiresAt: now + VOD_LOOKUP_TTL_MS });
    if (lookups.size > MAX_ENTRIES) {
      const oldest = lookups.keys().next();
      if (!oldest.done) lookups.delete(oldest.value);
    }
  }
  return streamId;
}

/** A VOD is being deleted: this isolate stops serving it at once. */
export function forgetVodStream(vodId: string): void {
  lookups.delete(vodId);
}

const VodStatus = z.object({ status: z.string() });
const VodStream = z.object({ stream_id: z.string() });
const withdrawals = new Map<string, { withdrawn: boolean; expiresAt: number }>();

function rememberWithdrawal(streamId: string, withdrawn: boolean, expiresAt: number): void {
  withdrawals.delete(streamId);
  withdrawals.set(streamId, { withdrawn, expiresAt });
  if (withdrawals.size > MAX_ENTRIES) {
    const oldest = withdrawals.keys().next();
    if (!oldest.done) withdrawals.delete(oldest.value);
  }
}

/**
 * Whether the media of `streamId` is withdrawn: its VOD is being deleted or is deleted, so the
 * live URLs that name the same R2 objects (/live/{channel}/{stream}/...) must 404 as the VOD's do.
 * A withdrawal is final and remembered for good; "not withdrawn" is trusted for VOD_LOOKUP_TTL_MS.
 */
export async function isStreamWithdrawn(
  db: D1Database,
  streamId: string,
  now = Date.now(),
): Promise<boolean> {
  const cached = withdrawals.get(streamId);
  if (cached && (cached.withdrawn || cached.expiresAt > now)) return cached.withdrawn;
  const row = await db
    .prepare('SELECT status FROM vods WHERE id = ?')
    .bind(await deriveVodId(streamId))
    .first();
  const status = row ? VodStatus.parse(row).status : null;
  const withdrawn = status === 'deleting' || status === 'deleted';
  rememberWithdrawal(streamId, withdrawn, now + VOD_LOOKUP_TTL_MS);
  return withdrawn;
}

/** A VOD of `streamId` is being deleted: this isolate stops serving its media at once. */
export function withdrawStream(streamId: string): void {
  rememberWithdrawal(streamId, true, Number.POSITIVE_INFINITY);
}
