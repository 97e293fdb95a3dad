// A node's membership of the fleet (docs/deploy.md, "Fleet"): registers with the origin's
// registry, then heart-beats about every 2 s with its load and the publishes it runs, so the
// registry keeps it in rotation and places streams on it. A refused heartbeat (409: the registry
// took the node out of rotation, or restarted its session) registers again at once. drain() tells
// the registry to place nothing more here; close() leaves the fleet. The loop is sequential, one
// request at a time, each bounded by the client's timeout, and close() ends it.
import { HEARTBEAT_INTERVAL_MS, type NodeCapacity, type NodeLoad } from '../../../../protocol/fleet.ts';
import type { LogSink } from '../log.ts';
import { type FleetClient, StaleSessionError } from './fleet-client.ts';

export interface FleetMemberOptions {
  client: FleetClient;
  nodeId: string;
  region: string;
  ingestUrls: string[];
  capacity: NodeCapacity;
  load(): NodeLoad;
  /** Publish ids of the pipelines running here now. */
  claims(): string[];
  /** The registry never placed these publishes here: cut them off. */
  onForeign(publishIds: string[]): void;
  log: LogSink;
  /** A retry after a failed registration or heartbeat; default the heartbeat interval. */
  retryMs?: number;
}

export class FleetMember {
  readonly #options: FleetMemberOptions;
  #session: string | null = null;
  #seq = 0;
  #intervalMs = HEARTBEAT_INTERVAL_MS;
  #draining = false;
  #closed = false;
  #loop: Promise<void> | null = null;
  #wake: (() => void) | null = null;
  #registered: Promise<void>;
  #resolveRegistered!: () => void;

  constructor(options: FleetMemberOptions) {
    this.#options = options;
    this.#registered = new Promise((resolve) => {
      this.#resolveRegistered = resolve;
    });
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** Resolves once the node first registered. */
  get registered(): Promise<void> {
    return this.#registered;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** No new placements here from now on; the registry hears it with an immediate heartbeat. */
  drain(): void {
    if (this.#draining) return;
    this.#draining = true;
    this.#options.log({ event: 'fleet.draining', node_id: this.#options.nodeId });
    this.#wake?.();
  }

  /** Stops heart-beating and leaves the fleet (out of rotation at once); runs once. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#wake?.();
    await this.#loop;
    const session = this.#session;
    if (session === null) return;
    try {
      await this.#options.client.leave({ node_id: this.#options.nodeId, session });
      this.#options.log({ event: 'fleet.left', node_id: this.#options.nodeId });
    } catch (error) {
      // The registry takes a silent node out of rotation by itself within seconds.
      this.#options.log({
        level: 'warn',
        event: 'fleet.leave_failed',
        node_id: this.#options.nodeId,
        error: String(error),
      });
    }
  }

  async #run(): Promise<void> {
    while (!this.#closed) {
      let waitMs = this.#intervalMs;
      try {
        if (this.#session === null) await this.#register();
        else await this.#beat();
      } catch (error) {
        if (error instanceof StaleSessionError) {
          this.#options.log({ level: 'warn', event: 'fleet.session_refused', node_id: this.#options.nodeId });
          this.#session = null;
          waitMs = 0;
        } else {
          this.#options.log({
            level: 'warn',
            event: 'fleet.heartbeat_failed',
            node_id: this.#options.nodeId,
            error: String(error),
          });
          waitMs = this.#options.retryMs ?? this.#intervalMs;
        }
      }
      if (!this.#closed && waitMs > 0) await this.#sleep(waitMs);
    }
  }

  async #register(): Promise<void> {
    const answer = await this.#options.client.register({
      node_id: this.#options.nodeId,
      region: this.#options.region,
      ingest_urls: this.#options.ingestUrls,
      capacity: this.#options.capacity,
    });
    this.#session = answer.session;
    this.#seq = 0;
    this.#intervalMs = answer.heartbeat_interval_ms;
    this.#options.log({
      event: 'fleet.registered',
      node_id: this.#options.nodeId,
      region: this.#options.region,
    });
    this.#resolveRegistered();
    // The first heartbeat follows at once: it carries a draining flag or claims made meanwhile.
    await this.#beat();
  }

  async #beat(): Promise<void> {
    const session = this.#session;
    if (session === null) return;
    // Every attempt takes a new number: a request lost in flight may still have been counted.
    this.#seq += 1;
    const answer = await this.#options.client.heartbeat({
      node_id: this.#options.nodeId,
      session,
      seq: this.#seq,
      load: this.#options.load(),
      claims: this.#options.claims(),
      draining: this.#draining,
    });
    if (answer.foreign.length > 0) this.#options.onForeign(answer.foreign);
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake = done;
    });
  }
}
