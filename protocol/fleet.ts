// The fleet API between transcoder nodes (containers/transcoder/src/fleet/) and the origin's fleet
// registry (workers/origin/fleet.ts, durable-objects/fleet/). Both sides import these schemas.
//
// Every call carries `Authorization: Bearer <node token>` (FLEET_TOKEN_PREFIX + node id + HMAC, see
// workers/origin/fleet-credentials.ts): a node proves which node it is, so it can neither speak for
// another node nor touch a stream placed on another node (docs/deploy.md, "Fleet"). Paths:
//   POST /internal/fleet/register    RegisterRequest  -> RegisterResponse (a new session, seq from 1)
//   POST /internal/fleet/heartbeat   HeartbeatRequest -> HeartbeatResponse; 409 for a stale sequence
//                                    or a session that is not the node's current one
//   POST /internal/fleet/leave       LeaveRequest     -> 204 (the node is gone from rotation at once)
//   GET  /internal/fleet/nodes       (master INGEST_SECRET only) every node and placement, for operators
// The same node token also authenticates the ingest calls (protocol/ingest.ts); the authorize call
// of a node places the stream on that node or refuses it (FLEET_REFUSAL_CODES).
import { z } from 'zod';

/** "About every 2 s" (docs/deploy.md): a node heart-beats this often. */
export const HEARTBEAT_INTERVAL_MS = 2_000;
/** Three missed heartbeats: the node leaves rotation and its streams are marked orphaned. */
export const NODE_TIMEOUT_MS = 6_000;

export const FLEET_TOKEN_PREFIX = 'fleet1.';

/** Lower-case DNS-label-like ids: they appear in logs, tokens and HAProxy server names. */
export const FleetNodeId = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/);
export type FleetNodeId = z.infer<typeof FleetNodeId>;

export const NodeCapacity = z.object({
  /** Encoded renditions the node runs at once (the transcoder's MAX_ENCODES). */
  encode_slots: z.number().int().min(0).max(1024),
  /** Streams (publisher connections and their uploads), passthrough ones included. */
  max_streams: z.number().int().min(1).max(1024),
  gpu: z.boolean(),
});
export type NodeCapacity = z.infer<typeof NodeCapacity>;

export const RegisterRequest = z.object({
  node_id: FleetNodeId,
  region: z.string().regex(/^[a-z0-9-]{1,32}$/),
  /** Public ingest addresses of this node (rtmp://..., rtmps://...), what an operator's DNS names. */
  ingest_urls: z
    .array(
      z
        .string()
        .max(200)
        .regex(/^rtmps?:\/\/[^\s]+$/),
    )
    .min(1)
    .max(8),
  capacity: NodeCapacity,
});
export type RegisterRequest = z.infer<typeof RegisterRequest>;

export const RegisterResponse = z.object({
  session: z.uuid(),
  heartbeat_interval_ms: z.number().int().positive(),
  node_timeout_ms: z.number().int().positive(),
});
export type RegisterResponse = z.infer<typeof RegisterResponse>;

export const NodeLoad = z.object({
  streams: z.number().int().min(0).max(100_000),
  active_encodes: z.number().int().min(0).max(100_000),
});
export type NodeLoad = z.infer<typeof NodeLoad>;

/** At most this many publish ids in one heartbeat's claims (bounded by a node's max_streams). */
export const MAX_CLAIMS = 1024;

export const HeartbeatRequest = z.object({
  node_id: FleetNodeId,
  session: z.uuid(),
  /** Strictly increasing within a session: a replayed or reordered heartbeat is refused. */
  seq: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  load: NodeLoad,
  /** The publish ids whose pipelines run on this node now. */
  claims: z.array(z.uuid()).max(MAX_CLAIMS),
  draining: z.boolean(),
});
export type HeartbeatRequest = z.infer<typeof HeartbeatRequest>;

export const HeartbeatResponse = z.object({
  state: z.enum(['active', 'draining']),
  /** Claimed publish ids the fleet never placed on this node: the node must cut them off. */
  foreign: z.array(z.uuid()),
});
export type HeartbeatResponse = z.infer<typeof HeartbeatResponse>;

export const LeaveRequest = z.object({ node_id: FleetNodeId, session: z.uuid() });
export type LeaveRequest = z.infer<typeof LeaveRequest>;

/**
 * Error codes of a refused placement (503 with Retry-After on /internal/ingest/authorize): the
 * transcoder sends the message to the publisher in NetStream.Publish.Failed and does not retry.
 */
export const FLEET_REFUSAL_CODES = ['fleet_full', 'node_full', 'node_draining', 'node_unknown'] as const;
export type FleetRefusalCode = (typeof FLEET_REFUSAL_CODES)[number];
