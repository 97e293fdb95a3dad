// Which stream's media a VOD plays, for the playback routes: one D1 read per VOD per isolate per
// VOD_LOOKUP_TTL_MS instead of one per segment request (a player fetches one every 2 s, per viewer).

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
    .first<{ stream_id: string }>();
  const streamId = row?.stream_id ?? null;
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
