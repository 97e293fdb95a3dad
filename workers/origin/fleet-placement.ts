// The ingest side of the fleet (docs/deploy.md, "Placement"): a node's publish authorization
// reserves room on that node before the channel's LiveStream starts the publish, and every later
// upload of a node is checked against the node that holds the publish, so nothing a node sends can
// list parts of a stream placed elsewhere. Calls with the master INGEST_SECRET (a single
// transcoder, `npm start`) skip both: that caller is the operator.
import type { ChannelTier } from '../../protocol/ingest.ts';
import { ApiError, conflict } from '../shared/errors.ts';
import { getFleetRegistry } from './fleet.ts';
import type { IngestCaller } from './fleet-credentials.ts';

/** Publish id → holding node, by isolate; a publish never moves (a reconnect is a new publish). */
const MAX_KNOWN_HOLDERS = 1000;
const knownHolders = new Map<string, string | null>();

function rememberHolder(publishId: string, nodeId: string | null): void {
  knownHolders.delete(publishId);
  knownHolders.set(publishId, nodeId);
  if (knownHolders.size > MAX_KNOWN_HOLDERS) {
    const oldest = knownHolders.keys().next();
    if (!oldest.done) knownHolders.delete(oldest.value);
  }
}

/**
 * Runs `begin` (the LiveStream's beginPublish) inside a placement when a node asks: the fleet
 * reserves the node's slots first (or refuses with 503 and the reason the streamer sees), binds the
 * reservation to the publish that began, and gives it back when the publish did not begin.
 */
export async function placePublish<T extends { ok: boolean }>(
  env: Env,
  caller: IngestCaller,
  channel: { id: string; tier: ChannelTier },
  begin: () => Promise<T>,
  publishOf: (started: T) => { publishId: string; streamId: string; replaced: string | null } | null,
): Promise<T> {
  if (caller.kind === 'master') return begin();
  const registry = getFleetRegistry(env);
  const outcome = await registry.place(caller.nodeId, channel.id, channel.tier);
  if (outcome.kind === 'refused')
    throw new ApiError(503, outcome.code, outcome.message, {
      retryAfterSeconds: Math.ceil(outcome.retryAfterMs / 1000),
    });
  let started: T;
  try {
    started = await begin();
  } catch (error) {
    await registry.release(outcome.placementId);
    throw error;
  }
  const publish = publishOf(started);
  if (publish === null) {
    await registry.release(outcome.placementId);
    return started;
  }
  if (!(await registry.bind(outcome.placementId, publish.publishId, publish.streamId, publish.replaced)))
    throw new ApiError(503, 'unavailable', 'The placement expired before the publish began', {
      retryAfterSeconds: 1,
    });
  rememberHolder(publish.publishId, caller.nodeId);
  return started;
}

/**
 * "A node claiming a stream it does not hold gets 409": a node token may only upload for the
 * publishes placed on its node.
 */
export async function assertHolder(env: Env, caller: IngestCaller, publishId: string): Promise<void> {
  if (caller.kind === 'master') return;
  let holder = knownHolders.get(publishId);
  if (holder === undefined) {
    const found = await getFleetRegistry(env).findHolder(publishId);
    holder = found?.nodeId ?? null;
    rememberHolder(publishId, holder);
  }
  if (holder !== caller.nodeId) throw conflict('This stream is not placed on this node');
}

/** The publish ended: its node's slots are free again. */
export async function releasePlacement(env: Env, caller: IngestCaller, publishId: string): Promise<void> {
  if (caller.kind === 'master') return;
  await getFleetRegistry(env).releasePublish(publishId);
}
