// Wires a transcoder process into the fleet when FLEET_NODE_ID is set (fleet-config.ts): the
// membership (register + heartbeats) and the drain that SIGTERM runs. main.ts stays a lone
// transcoder when this returns null.
import type { NodeCapacity, NodeLoad } from '../../../../protocol/fleet.ts';
import type { LogSink } from '../log.ts';
import { drainStreams } from './drain.ts';
import { FleetClient } from './fleet-client.ts';
import { type FleetConfig, readFleetConfig } from './fleet-config.ts';
import { FleetMember } from './fleet-member.ts';

export interface MembershipDeps {
  originUrl: string;
  /** The node token (INGEST_SECRET on a fleet node). */
  token: string;
  rtmpPort: number;
  capacity: Omit<NodeCapacity, 'max_streams'>;
  load(): NodeLoad;
  claims(): string[];
  log: LogSink;
  fetch?: typeof fetch;
}

export interface FleetMembership {
  config: FleetConfig;
  member: FleetMember;
  /** Announces the drain and waits for the live streams to end or the deadline. */
  drain(liveStreams: () => number): Promise<'empty' | 'deadline'>;
}

export function startFleetMembership(env: NodeJS.ProcessEnv, deps: MembershipDeps): FleetMembership | null {
  const config = readFleetConfig(env);
  if (config === null) return null;
  const log: LogSink = (fields) => deps.log({ node_id: config.nodeId, ...fields });
  const member = new FleetMember({
    client: new FleetClient({
      originUrl: deps.originUrl,
      token: deps.token,
      ...(deps.fetch === undefined ? {} : { fetch: deps.fetch }),
    }),
    nodeId: config.nodeId,
    region: config.region,
    ingestUrls: config.ingestUrls ?? [`rtmp://127.0.0.1:${deps.rtmpPort}/live`],
    capacity: { ...deps.capacity, max_streams: config.maxStreams },
    load: deps.load,
    claims: deps.claims,
    // The origin refuses every upload of such a publish (409), which cuts its publisher off.
    onForeign: (publishIds) => log({ level: 'warn', event: 'fleet.foreign_claims', publish_ids: publishIds }),
    log,
  });
  return {
    config,
    member,
    drain: (liveStreams) =>
      drainStreams({ announce: () => member.drain(), liveStreams, deadlineMs: config.drainDeadlineMs, log }),
  };
}
