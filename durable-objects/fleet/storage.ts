// The fleet registry's SQLite tables: one row per node (its session, last heartbeat sequence,
// capacity and load) and one per placement (which node holds which publish). Rows are parsed with
// zod on the way out; nothing is cast. Bounded: MAX_NODES nodes, and placements never exceed the
// nodes' stream slots (placement refuses first), lost nodes are forgotten after FORGET_LOST_MS.
import { z } from 'zod';
import { FLEET_REFUSAL_CODES, NodeCapacity, NodeLoad } from '../../protocol/fleet.ts';
import { ChannelTier } from '../../protocol/ingest.ts';
import type { FleetNode, IngestNotice, Placement } from './types.ts';

/** Nodes one registry keeps (registrations beyond it are refused). */
export const MAX_NODES = 256;
/** Refusal notices kept for dashboards; the oldest go first beyond it. */
export const MAX_REFUSALS = 10_000;

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS nodes (
    node_id TEXT PRIMARY KEY, session TEXT NOT NULL, seq INTEGER NOT NULL, region TEXT NOT NULL,
    ingest_urls TEXT NOT NULL, capacity TEXT NOT NULL, load TEXT NOT NULL, state TEXT NOT NULL,
    last_seen_at INTEGER NOT NULL
  );
  CREATE TABLE IF NOT EXISTS placements (
    placement_id TEXT PRIMARY KEY, node_id TEXT NOT NULL, channel_id TEXT NOT NULL, tier TEXT NOT NULL,
    encode_slots INTEGER NOT NULL, publish_id TEXT UNIQUE, stream_id TEXT, state TEXT NOT NULL,
    placed_at INTEGER NOT NULL
  );
  CREATE INDEX IF NOT EXISTS idx_placements_node ON placements (node_id);
  CREATE TABLE IF NOT EXISTS refusals (
    channel_id TEXT PRIMARY KEY, code TEXT NOT NULL, message TEXT NOT NULL, refused_at INTEGER NOT NULL
  );
  CREATE INDEX IF NOT EXISTS idx_refusals_at ON refusals (refused_at);
`;

const RefusalRow = z.object({
  code: z.enum(FLEET_REFUSAL_CODES),
  message: z.string(),
  refused_at: z.number(),
});

const NodeRow = z.object({
  node_id: z.string(),
  session: z.string(),
  seq: z.number(),
  region: z.string(),
  ingest_urls: z.string(),
  capacity: z.string(),
  load: z.string(),
  state: z.enum(['active', 'draining', 'lost']),
  last_seen_at: z.number(),
});

const PlacementRow = z.object({
  placement_id: z.string(),
  node_id: z.string(),
  channel_id: z.string(),
  tier: ChannelTier,
  encode_slots: z.number(),
  publish_id: z.string().nullable(),
  stream_id: z.string().nullable(),
  state: z.enum(['placed', 'orphaned']),
  placed_at: z.number(),
});

export interface NodeRecord extends FleetNode {
  session: string;
  seq: number;
}

function toNode(row: unknown): NodeRecord {
  const r = NodeRow.parse(row);
  return {
    nodeId: r.node_id,
    session: r.session,
    seq: r.seq,
    region: r.region,
    ingestUrls: z.array(z.string()).parse(JSON.parse(r.ingest_urls)),
    capacity: NodeCapacity.parse(JSON.parse(r.capacity)),
    load: NodeLoad.parse(JSON.parse(r.load)),
    state: r.state,
    lastSeenAt: r.last_seen_at,
  };
}

function toPlacement(row: unknown): Placement {
  const r = PlacementRow.parse(row);
  return {
    placementId: r.placement_id,
    nodeId: r.node_id,
    channelId: r.channel_id,
    tier: r.tier,
    encodeSlots: r.encode_slots,
    publishId: r.publish_id,
    streamId: r.stream_id,
    state: r.state,
    placedAt: r.placed_at,
  };
}

export class FleetStorage {
  readonly #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
    this.#sql.exec(SCHEMA);
  }

  listNodes(): NodeRecord[] {
    return this.#sql.exec('SELECT * FROM nodes ORDER BY node_id').toArray().map(toNode);
  }

  getNode(nodeId: string): NodeRecord | null {
    const row = this.#sql.exec('SELECT * FROM nodes WHERE node_id = ?', nodeId).toArray()[0];
    return row ? toNode(row) : null;
  }

  putNode(node: NodeRecord): void {
    this.#sql.exec(
      `INSERT INTO nodes (node_id, session, seq, region, ingest_urls, capacity, load, state, last_seen_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (node_id) DO UPDATE SET session = excluded.session, seq = excluded.seq,
         region = excluded.region, ingest_urls = excluded.ingest_urls, capacity = excluded.capacity,
         load = excluded.load, state = excluded.state, last_seen_at = excluded.last_seen_at`,
      node.nodeId,
      node.session,
      node.seq,
      node.region,
      JSON.stringify(node.ingestUrls),
      JSON.stringify(node.capacity),
      JSON.stringify(node.load),
      node.state,
      node.lastSeenAt,
    );
  }

  deleteNode(nodeId: string): void {
    this.#sql.exec('DELETE FROM placements WHERE node_id = ?', nodeId);
    this.#sql.exec('DELETE FROM nodes WHERE node_id = ?', nodeId);
  }

  countNodes(): number {
    return z.object({ n: z.number() }).parse(this.#sql.exec('SELECT count(*) AS n FROM nodes').one()).n;
  }

  listPlacements(nodeId?: string): Placement[] {
    const cursor =
      nodeId === undefined
        ? this.#sql.exec('SELECT * FROM placements ORDER BY placed_at')
        : this.#sql.exec('SELECT * FROM placements WHERE node_id = ? ORDER BY placed_at', nodeId);
    return cursor.toArray().map(toPlacement);
  }

  findPlacementByPublish(publishId: string): Placement | null {
    const row = this.#sql.exec('SELECT * FROM placements WHERE publish_id = ?', publishId).toArray()[0];
    return row ? toPlacement(row) : null;
  }

  insertPlacement(placement: Placement): void {
    this.#sql.exec(
      `INSERT INTO placements (placement_id, node_id, channel_id, tier, encode_slots, publish_id, stream_id, state, placed_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      placement.placementId,
      placement.nodeId,
      placement.channelId,
      placement.tier,
      placement.encodeSlots,
      placement.publishId,
      placement.streamId,
      placement.state,
      placement.placedAt,
    );
  }

  /** Binds a reserved placement to its publish; false when the placement is gone. */
  bindPlacement(placementId: string, publishId: string, streamId: string): boolean {
    return (
      this.#sql.exec(
        'UPDATE placements SET publish_id = ?, stream_id = ? WHERE placement_id = ? AND publish_id IS NULL',
        publishId,
        streamId,
        placementId,
      ).rowsWritten > 0
    );
  }

  setPlacementState(placementId: string, state: Placement['state']): void {
    this.#sql.exec('UPDATE placements SET state = ? WHERE placement_id = ?', state, placementId);
  }

  deletePlacement(placementId: string): void {
    this.#sql.exec('DELETE FROM placements WHERE placement_id = ?', placementId);
  }

  putRefusal(channelId: string, notice: IngestNotice): void {
    this.#sql.exec(
      `INSERT INTO refusals (channel_id, code, message, refused_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (channel_id) DO UPDATE SET code = excluded.code, message = excluded.message,
         refused_at = excluded.refused_at`,
      channelId,
      notice.code,
      notice.message,
      notice.at,
    );
    this.#sql.exec(
      'DELETE FROM refusals WHERE channel_id IN (SELECT channel_id FROM refusals ORDER BY refused_at DESC LIMIT -1 OFFSET ?)',
      MAX_REFUSALS,
    );
  }

  getRefusal(channelId: string): IngestNotice | null {
    const row = this.#sql
      .exec('SELECT code, message, refused_at FROM refusals WHERE channel_id = ?', channelId)
      .toArray()[0];
    if (!row) return null;
    const r = RefusalRow.parse(row);
    return { code: r.code, message: r.message, at: r.refused_at };
  }

  deleteRefusal(channelId: string): void {
    this.#sql.exec('DELETE FROM refusals WHERE channel_id = ?', channelId);
  }

  deleteRefusalsBefore(at: number): void {
    this.#sql.exec('DELETE FROM refusals WHERE refused_at < ?', at);
  }
}
