// Where a stream may go: the pure placement rule of the fleet registry (docs/deploy.md,
// "Placement"). A publish arrives on the node that holds the publisher's TCP connection (the front
// address chose it), so placement decides whether that node may take the stream now; when it may
// not, the refusal says whether another node could (the front sends the encoder's retry elsewhere)
// or the whole fleet is full. Never by overloading a node: every placement fits the node's slots.
import type { ChannelTier } from '../../protocol/ingest.ts';
import type { FleetNode, PlaceOutcome } from './types.ts';

/**
 * Encode slots a tier takes (the transcoder's ladder, containers/transcoder/src/ffmpeg/ladder.ts):
 * a partner gets a dedicated slot for each of its 4 encoded rungs, reserved for the stream's life;
 * an affiliate shares the pool for its one rung (source-only when the pool is spent, never
 * refused for it); tier none is passthrough and costs a stream slot only.
 */
export const TIER_ENCODE_SLOTS: Record<ChannelTier, number> = { partner: 4, affiliate: 1, none: 0 };

/** What a refused encoder is told to wait before it retries (Retry-After). */
export const FLEET_FULL_RETRY_MS = 30_000;

export interface NodeUse {
  streams: number;
  encodeSlots: number;
}

/** Encode slots this tier takes on a node with `use` spent, or null when it does not fit there. */
export function fitOnNode(node: FleetNode, use: NodeUse, tier: ChannelTier): number | null {
  if (node.state !== 'active') return null;
  if (use.streams + 1 > node.capacity.max_streams) return null;
  const wanted = TIER_ENCODE_SLOTS[tier];
  const free = node.capacity.encode_slots - use.encodeSlots;
  if (wanted <= free) return wanted;
  // "Affiliates share the pool": with no slot left the stream runs source-only.
  return tier === 'affiliate' ? 0 : null;
}

/**
 * The placement decision for a publish that arrived on `nodeId`. `spentOf` gives each node's spent
 * slots (its live placements).
 */
export function decidePlacement(
  nodes: readonly FleetNode[],
  spentOf: (nodeId: string) => NodeUse,
  nodeId: string,
  tier: ChannelTier,
): { kind: 'fits'; encodeSlots: number } | Exclude<PlaceOutcome, { kind: 'placed' }> {
  const here = nodes.find((node) => node.nodeId === nodeId);
  if (!here || here.state === 'lost')
    return {
      kind: 'refused',
      code: 'node_unknown',
      message: 'This ingest server is not in the fleet; reconnect to the ingest address',
      retryAfterMs: 2_000,
    };
  if (here.state === 'draining')
    return {
      kind: 'refused',
      code: 'node_draining',
      message: 'This ingest server is shutting down; reconnect to the ingest address',
      retryAfterMs: 2_000,
    };
  const slots = fitOnNode(here, spentOf(here.nodeId), tier);
  if (slots !== null) return { kind: 'fits', encodeSlots: slots };
  const elsewhere = nodes.some(
    (node) => node.nodeId !== nodeId && fitOnNode(node, spentOf(node.nodeId), tier) !== null,
  );
  if (elsewhere)
    return {
      kind: 'refused',
      code: 'node_full',
      message: 'This ingest server is full; reconnect to the ingest address to reach one with room',
      retryAfterMs: 2_000,
    };
  return {
    kind: 'refused',
    code: 'fleet_full',
    message: `Every ingest server is full for ${tier === 'partner' ? 'a partner' : 'this'} channel right now; try again in a few minutes`,
    retryAfterMs: FLEET_FULL_RETRY_MS,
  };
}
