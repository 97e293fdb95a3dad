// The fleet registry: one coordination object (FLEET_REGISTRY.getByName('global')) that knows every
// transcoder node, its session, capacity and load, and which node holds each publish
// (docs/deploy.md, "Fleet"). Nodes register and heart-beat about every 2 s over
// /internal/fleet (workers/origin/fleet.ts); the publish authorization places a stream here before
// the LiveStream object starts it. One alarm takes a silent node out of rotation after
// NODE_TIMEOUT_MS and marks its streams orphaned, drops reservations that were never bound, and
// forgets lost nodes after FORGET_LOST_MS. Methods return typed outcomes (types.ts).
import { DurableObject } from 'cloudflare:workers';
import { log } from '../../common/log.ts';
import { type HeartbeatRequest, NODE_TIMEOUT_MS, type RegisterRequest } from '../../protocol/fleet.ts';
import type { ChannelTier } from '../../protocol/ingest.ts';
import { decidePlacement, fitOnNode, type NodeUse } from './placement.ts';
import { FleetStorage, MAX_NODES, type NodeRecord } from './storage.ts';
import type {
  FleetNode,
  HeartbeatOutcome,
  Holder,
  IngestNotice,
  LeaveOutcome,
  Placement,
  PlaceOutcome,
} from './types.ts';

/** A reservation the authorize call never bound to a publish (its LiveStream refused) is dropped. */
export const BIND_TIMEOUT_MS = 10_000;
/** A bound placement its node stopped claiming for this long is released (a lost /end call). */
export const CLAIM_GRACE_MS = 10_000;
/** Lost nodes and their orphaned placements are kept this long for operators, then forgotten. */
export const FORGET_LOST_MS = 10 * 60_000;
/** A refused publish stays on the channel's dashboard this long (or until a publish is placed). */
export const NOTICE_TTL_MS = 10 * 60_000;

export interface FleetSnapshot {
  nodes: Array<FleetNode & { use: NodeUse }>;
  placements: Placement[];
}

export class FleetRegistry extends DurableObject<Env> {
  #storage!: FleetStorage;
  #alarmAt: number | null = null;
  readonly #log = log.child({ object: 'FleetRegistry' });

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(async () => {
      this.#storage = new FleetStorage(ctx.storage.sql);
      this.#alarmAt = await ctx.storage.getAlarm();
    });
  }

  /** A node (re)starts: a new session whose heartbeats count from seq 1. */
  async register(
    request: RegisterRequest,
  ): Promise<{ kind: 'registered'; session: string } | { kind: 'full' }> {
    const existing = this.#storage.getNode(request.node_id);
    if (!existing && this.#storage.countNodes() >= MAX_NODES) return { kind: 'full' };
    const now = Date.now();
    const session = crypto.randomUUID();
    this.#storage.putNode({
      nodeId: request.node_id,
      session,
      seq: 0,
      region: request.region,
      ingestUrls: request.ingest_urls,
      capacity: request.capacity,
      load: { streams: 0, active_encodes: 0 },
      state: 'active',
      lastSeenAt: now,
    });
    this.#log.info('fleet.node_registered', {
      node_id: request.node_id,
      region: request.region,
      ...request.capacity,
    });
    await this.#scheduleAlarm(now + NODE_TIMEOUT_MS);
    return { kind: 'registered', session };
  }

  /**
   * One heartbeat. Refused when the session is not the node's current one (a replay from an
   * earlier run, or a node the registry has taken out of rotation: it must register again) or when
   * its sequence is not above the last one accepted (a replayed or reordered heartbeat).
   */
  async heartbeat(request: HeartbeatRequest): Promise<HeartbeatOutcome> {
    const node = this.#storage.getNode(request.node_id);
    if (!node || node.session !== request.session || node.state === 'lost') return { kind: 'stale-session' };
    if (request.seq <= node.seq) return { kind: 'stale-sequence', lastSeq: node.seq };
    const now = Date.now();
    const state = request.draining || node.state === 'draining' ? 'draining' : 'active';
    if (state === 'draining' && node.state !== 'draining')
      this.#log.info('fleet.node_draining', { node_id: node.nodeId, streams: request.load.streams });
    this.#storage.putNode({ ...node, seq: request.seq, load: request.load, state, lastSeenAt: now });
    const foreign = this.#reconcileClaims(node.nodeId, new Set(request.claims), now);
    await this.#scheduleAlarm(now + NODE_TIMEOUT_MS);
    return { kind: 'ok', state, foreign };
  }

  /** The node is going away now (the end of a drain): out of rotation at once, its placements freed. */
  leave(nodeId: string, session: string): LeaveOutcome {
    const node = this.#storage.getNode(nodeId);
    if (!node || node.session !== session) return { kind: 'stale-session' };
    this.#storage.deleteNode(nodeId);
    this.#log.info('fleet.node_left', { node_id: nodeId });
    return { kind: 'left' };
  }

  /**
   * Reserves room for a publish that arrived on `nodeId`, or says why not. The reservation is
   * bound to the publish with bind() once the channel's LiveStream has started it.
   */
  async place(nodeId: string, channelId: string, tier: ChannelTier): Promise<PlaceOutcome> {
    const nodes = this.#storage.listNodes();
    const decision = decidePlacement(nodes, (id) => this.#spentOf(id), nodeId, tier);
    if (decision.kind === 'refused') {
      this.#storage.putRefusal(channelId, { code: decision.code, message: decision.message, at: Date.now() });
      await this.#scheduleAlarm(Date.now() + NOTICE_TTL_MS);
      this.#log.info('fleet.placement_refused', {
        node_id: nodeId,
        channel_id: channelId,
        tier,
        code: decision.code,
      });
      return decision;
    }
    const now = Date.now();
    const placement: Placement = {
      placementId: crypto.randomUUID(),
      nodeId,
      channelId,
      tier,
      encodeSlots: decision.encodeSlots,
      publishId: null,
      streamId: null,
      state: 'placed',
      placedAt: now,
    };
    this.#storage.insertPlacement(placement);
    this.#storage.deleteRefusal(channelId);
    await this.#scheduleAlarm(now + BIND_TIMEOUT_MS);
    return { kind: 'placed', placementId: placement.placementId, encodeSlots: decision.encodeSlots };
  }

  /**
   * Binds a reservation to the publish it made room for; false when the reservation expired. A
   * publish that took a stalled one's place (a reconnect after its node died) frees that publish's
   * slots in the same call: the authorization waits for one round trip less.
   */
  bind(
    placementId: string,
    publishId: string,
    streamId: string,
    replacedPublishId: string | null = null,
  ): boolean {
    if (!this.#storage.bindPlacement(placementId, publishId, streamId)) return false;
    if (replacedPublishId !== null) this.releasePublish(replacedPublishId);
    return true;
  }

  /** Gives a reservation back (the LiveStream refused the publish). */
  release(placementId: string): void {
    this.#storage.deletePlacement(placementId);
  }

  /** The publish ended: its node's slots are free again. */
  releasePublish(publishId: string): void {
    const placement = this.#storage.findPlacementByPublish(publishId);
    if (placement) this.#storage.deletePlacement(placement.placementId);
  }

  /** Which node holds a publish; fixed for the publish's life (a reconnect is a new publish). */
  findHolder(publishId: string): Holder {
    const placement = this.#storage.findPlacementByPublish(publishId);
    return placement ? { nodeId: placement.nodeId, state: placement.state } : null;
  }

  /**
   * Where the node holding `publishId` relays its source for a standby (docs/deploy.md, "Relayed
   * standby"): the RTMP ingest address of another active node with room for the stream's tier, the
   * one with the most free encode slots; null when the publish is not this node's or no node has room.
   */
  pickRelayTarget(nodeId: string, publishId: string): string | null {
    const placement = this.#storage.findPlacementByPublish(publishId);
    if (placement?.nodeId !== nodeId) return null;
    let best: { url: string; free: number } | null = null;
    for (const node of this.#storage.listNodes()) {
      if (node.nodeId === nodeId) continue;
      const use = this.#spentOf(node.nodeId);
      if (fitOnNode(node, use, placement.tier) === null) continue;
      const url = node.ingestUrls.find((candidate) => candidate.startsWith('rtmp://'));
      const free = node.capacity.encode_slots - use.encodeSlots;
      if (url !== undefined && (best === null || free > best.free)) best = { url, free };
    }
    return best?.url ?? null;
  }

  /** Why the channel's last publish was refused, within NOTICE_TTL_MS; null when it was not. */
  lastRefusal(channelId: string): IngestNotice | null {
    const notice = this.#storage.getRefusal(channelId);
    return notice !== null && Date.now() - notice.at < NOTICE_TTL_MS ? notice : null;
  }

  /** Every node with its spent slots, and every placement: for operators and tests. */
  snapshot(): FleetSnapshot {
    return {
      nodes: this.#storage.listNodes().map(({ session: _session, seq: _seq, ...node }) => ({
        ...node,
        use: this.#spentOf(node.nodeId),
      })),
      placements: this.#storage.listPlacements(),
    };
  }

  override async alarm(): Promise<void> {
    this.#alarmAt = null;
    const now = Date.now();
    let next = Number.POSITIVE_INFINITY;
    for (const node of this.#storage.listNodes()) {
      if (node.state === 'lost') {
        if (now - node.lastSeenAt >= FORGET_LOST_MS) this.#storage.deleteNode(node.nodeId);
        else next = Math.min(next, node.lastSeenAt + FORGET_LOST_MS);
        continue;
      }
      if (now - node.lastSeenAt >= NODE_TIMEOUT_MS) await this.#markLost(node);
      else next = Math.min(next, node.lastSeenAt + NODE_TIMEOUT_MS);
    }
    for (const placement of this.#storage.listPlacements()) {
      if (placement.publishId !== null) continue;
      if (now - placement.placedAt >= BIND_TIMEOUT_MS) this.#storage.deletePlacement(placement.placementId);
      else next = Math.min(next, placement.placedAt + BIND_TIMEOUT_MS);
    }
    this.#storage.deleteRefusalsBefore(now - NOTICE_TTL_MS);
    if (Number.isFinite(next)) await this.#scheduleAlarm(next);
  }

  /**
   * "A node that misses heartbeats is taken out of rotation within a few seconds and its streams are
   * marked." Each of its live publishes is ended with its LiveStream, so the stream enters its
   * reconnect window now rather than at the publisher timeout: the encoder's retry, landing on
   * another node through the front, continues the same stream.
   */
  async #markLost(node: NodeRecord): Promise<void> {
    this.#storage.putNode({ ...node, state: 'lost' });
    const orphaned: string[] = [];
    for (const placement of this.#storage.listPlacements(node.nodeId)) {
      if (placement.publishId === null) {
        this.#storage.deletePlacement(placement.placementId);
        continue;
      }
      this.#storage.setPlacementState(placement.placementId, 'orphaned');
      if (placement.streamId !== null) orphaned.push(placement.streamId);
      const publishId = placement.publishId;
      await this.env.LIVE_STREAM.getByName(placement.channelId)
        .endPublish(publishId)
        .catch((error: unknown) =>
          this.#log.error('fleet.orphan_end_failed', {
            node_id: node.nodeId,
            channel_id: placement.channelId,
            error: String(error),
          }),
        );
    }
    this.#log.warn('fleet.node_lost', {
      node_id: node.nodeId,
      silent_ms: Date.now() - node.lastSeenAt,
      orphaned_streams: orphaned,
    });
  }

  /**
   * Compares a node's claims with its placements: claims the fleet never placed there are foreign
   * (the node cuts them off); bound placements it stopped claiming past CLAIM_GRACE_MS are released.
   */
  #reconcileClaims(nodeId: string, claims: ReadonlySet<string>, now: number): string[] {
    const held = new Set<string>();
    for (const placement of this.#storage.listPlacements(nodeId)) {
      if (placement.publishId === null) continue;
      if (claims.has(placement.publishId)) {
        held.add(placement.publishId);
        if (placement.state === 'orphaned') this.#storage.setPlacementState(placement.placementId, 'placed');
      } else if (now - placement.placedAt >= CLAIM_GRACE_MS) {
        this.#storage.deletePlacement(placement.placementId);
      }
    }
    return [...claims].filter((publishId) => !held.has(publishId));
  }

  #spentOf(nodeId: string): NodeUse {
    let streams = 0;
    let encodeSlots = 0;
    for (const placement of this.#storage.listPlacements(nodeId)) {
      if (placement.state !== 'placed') continue;
      streams += 1;
      encodeSlots += placement.encodeSlots;
    }
    return { streams, encodeSlots };
  }

  /** One alarm drives every timer: set only when none is due sooner. */
  async #scheduleAlarm(at: number): Promise<void> {
    if (this.#alarmAt !== null && this.#alarmAt <= at) return;
    this.#alarmAt = at;
    await this.ctx.storage.setAlarm(at);
  }
}
