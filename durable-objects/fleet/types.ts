// The fleet registry's vocabulary: a node as the registry knows it, a placement, and the typed
// outcomes of its RPC methods. The origin Worker maps outcomes to HTTP statuses in one place
// (workers/origin/fleet.ts and the authorize route in workers/origin/ingest.ts).
import type { FleetRefusalCode, NodeCapacity, NodeLoad } from '../../protocol/fleet.ts';
import type { ChannelTier } from '../../protocol/ingest.ts';

/** 'lost': missed heartbeats for NODE_TIMEOUT_MS; out of rotation until it registers again. */
export type NodeState = 'active' | 'draining' | 'lost';

export interface FleetNode {
  nodeId: string;
  region: string;
  ingestUrls: string[];
  capacity: NodeCapacity;
  load: NodeLoad;
  state: NodeState;
  lastSeenAt: number;
}

/** 'orphaned': its node was lost while it was live (the stream is marked, docs/deploy.md). */
export type PlacementState = 'placed' | 'orphaned';

export interface Placement {
  placementId: string;
  nodeId: string;
  channelId: string;
  tier: ChannelTier;
  encodeSlots: number;
  publishId: string | null;
  streamId: string | null;
  state: PlacementState;
  placedAt: number;
}

export type PlaceOutcome =
  | { kind: 'placed'; placementId: string; encodeSlots: number }
  | { kind: 'refused'; code: FleetRefusalCode; message: string; retryAfterMs: number };

export type HeartbeatOutcome =
  | { kind: 'ok'; state: 'active' | 'draining'; foreign: string[] }
  | { kind: 'stale-session' }
  | { kind: 'stale-sequence'; lastSeq: number };

export type LeaveOutcome = { kind: 'left' } | { kind: 'stale-session' };

/** The last refused publish of a channel, what its dashboard shows the streamer. */
export interface IngestNotice {
  code: FleetRefusalCode;
  message: string;
  /** Epoch ms. */
  at: number;
}

/** Who holds a publish: a node id, or null when the publish was never placed (single-node mode). */
export type Holder = { nodeId: string; state: PlacementState } | null;
