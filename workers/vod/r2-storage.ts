// Where a stream's chat archive lives in R2, and the R2 chores the VOD code shares: listing a
// prefix and deleting one in bounded batches. Media keys are in media/live-keys.ts and
// media/vod-keys.ts (runtime-neutral, shared with the transcoder's tests).

export function getChatPrefix(streamId: string): string {
  return `chat/${streamId}/`;
}

/** Fixed-width epoch ms, so keys sort by time. */
function padTime(epochMs: number): string {
  return String(Math.max(0, Math.trunc(epochMs))).padStart(15, '0');
}

/** One archived batch: its first and last sent_at are in the key, so a replay reads only overlapping batches. */
export function getChatBatchKey(
  streamId: string,
  firstSentAt: number,
  lastSentAt: number,
  batchId: string,
): string {
  return `chat/${streamId}/${padTime(firstSentAt)}-${padTime(lastSentAt)}-${batchId}.json`;
}

/**
 * A listing position in a stream's chat archive: `startAfter` it lists the batches whose first
 * message was sent at or after `epochMs` ("{time}" sorts before every "{time}-...").
 */
export function getChatListStart(streamId: string, epochMs: number): string {
  return `chat/${streamId}/${padTime(epochMs)}`;
}

/** The sent_at range of a chat batch key; null for a key that is not one. */
export function parseChatBatchKey(key: string): { first: number; last: number } | null {
  const match = /\/(\d{15})-(\d{15})-[^/]+\.json$/.exec(key);
  if (!match) return null;
  return { first: Number(match[1]), last: Number(match[2]) };
}

/** Every object under `prefix` with its size (R2 lists 1000 keys per call). */
export async function listObjects(bucket: R2Bucket, prefix: string): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  let cursor: string | undefined;
  for (;;) {
    const page = await bucket.list({ prefix, cursor });
    for (const object of page.objects) sizes.set(object.key, object.size);
    if (!page.truncated) return sizes;
    cursor = page.cursor;
  }
}

/** R2's most keys per delete call. */
const DELETE_BATCH = 1000;

/**
 * Deletes up to `budget` objects under `prefix`. Returns how many it deleted and whether the prefix
 * is now empty. Listing again from the start each round is what makes it resumable without a
 * cursor: deleted keys are simply gone from the next listing.
 */
export async function purgePrefix(
  bucket: R2Bucket,
  prefix: string,
  budget: number,
): Promise<{ deleted: number; done: boolean }> {
  let deleted = 0;
  while (deleted < budget) {
    const page = await bucket.list({ prefix, limit: Math.min(DELETE_BATCH, budget - deleted) });
    const keys = page.objects.map((o) => o.key);
    if (keys.length === 0) return { deleted, done: true };
    await bucket.delete(keys);
    deleted += keys.length;
    if (!page.truncated) return { deleted, done: true };
  }
  const rest = await bucket.list({ prefix, limit: 1 });
  return { deleted, done: rest.objects.length === 0 };
}

/**
 * Deletes up to `budget` objects under `prefix` that `keep` does not want, walking the listing with
 * its cursor (the kept keys stay, so listing again from the start would find them every round).
 * Done when one walk reached the end with nothing left to delete.
 */
export async function purgePrefixExcept(
  bucket: R2Bucket,
  prefix: string,
  budget: number,
  keep: (key: string) => boolean,
): Promise<{ deleted: number; done: boolean }> {
  let deleted = 0;
  let cursor: string | undefined;
  for (;;) {
    const page = await bucket.list({ prefix, cursor, limit: DELETE_BATCH });
    const doomed = page.objects
      .map((o) => o.key)
      .filter((key) => !keep(key))
      .slice(0, budget - deleted);
    if (doomed.length > 0) await bucket.delete(doomed);
    deleted += doomed.length;
    // Out of budget: the next run walks again (what was deleted is gone from its listing).
    if (deleted >= budget) return { deleted, done: false };
    if (!page.truncated) return { deleted, done: true };
    cursor = page.cursor;
  }
}
