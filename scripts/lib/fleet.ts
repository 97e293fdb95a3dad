// A local ingest fleet (docs/deploy.md, "A fleet on one machine"): N transcoder nodes on loopback,
// each with its own ports, node id and node token, behind HAProxy (Debian's haproxy, installed by
// scripts/ensure-env.sh) as the front address. Used by `npm start -- --nodes N` and the fleet's e2e
// test. HAProxy balances RTMP and RTMPS by least connections and checks each node's /healthz every
// second, so a draining (503) or dead node gets no new publisher; established sessions are never cut.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deriveNodeToken } from '../../workers/origin/fleet-token.ts';
import { type ManagedProcess, spawnManaged, startTranscoder, waitForTcp } from './platform.ts';

/** At most this many local nodes: each runs its own ffmpegs on this one machine. */
export const MAX_LOCAL_NODES = 8;

export interface FleetNodePorts {
  nodeId: string;
  rtmpPort: number;
  rtmpsPort: number;
  httpPort: number;
}

export interface FrontPorts {
  rtmp: number;
  rtmps: number;
  /** A second front address (BACKUP_RTMP_INGEST_URL) over the same nodes. */
  backupRtmp: number;
}

/** Node i (1-based) listens on base + i: distinct ports on 127.0.0.1, so it runs on any OS. */
export function planFleetNodes(
  count: number,
  base = { rtmp: 19350, rtmps: 19370, http: 19390 },
): FleetNodePorts[] {
  if (!Number.isInteger(count) || count < 1 || count > MAX_LOCAL_NODES)
    throw new Error(`--nodes takes 1 to ${MAX_LOCAL_NODES}`);
  return Array.from({ length: count }, (_, index) => ({
    nodeId: `node-${index + 1}`,
    rtmpPort: base.rtmp + index + 1,
    rtmpsPort: base.rtmps + index + 1,
    httpPort: base.http + index + 1,
  }));
}

/** The HAProxy configuration of the front: TCP passthrough (RTMPS terminates on the nodes). */
export function renderHaproxyConfig(nodes: readonly FleetNodePorts[], front: FrontPorts): string {
  const servers = (port: (node: FleetNodePorts) => number) =>
    nodes
      .map((node) => `  server ${node.nodeId} 127.0.0.1:${port(node)} check port ${node.httpPort}`)
      .join('\n');
  // "option httpchk" in a TCP backend sends the HTTP check to the `check port` only; the RTMP port
  // is never spoken HTTP to. inter 1s fall 2: a dead or draining node is out within ~2 s.
  const backend = (name: string, port: (node: FleetNodePorts) => number) => `backend ${name}
  balance leastconn
  option httpchk GET /healthz
  http-check expect status 200
  default-server inter 1s fall 2 rise 2
${servers(port)}
`;
  return `# Written by scripts/lib/fleet.ts for npm start -- --nodes ${nodes.length}; not edited by hand.
global
  maxconn 4096

defaults
  mode tcp
  timeout connect 2s
  # A node that died a moment ago refuses the connection before its checks fail (up to ~2 s): the
  # encoder's reconnect is retried on another node at once instead of failing (docs/deploy.md).
  retries 2
  option redispatch 1
  # A publisher sends every few tens of ms; the nodes end a silent one after 10 s themselves.
  timeout client 60s
  timeout server 60s

frontend rtmp
  bind :${front.rtmp}
  default_backend rtmp_nodes

frontend rtmp_backup
  bind :${front.backupRtmp}
  default_backend rtmp_nodes

frontend rtmps
  bind :${front.rtmps}
  default_backend rtmps_nodes

${backend('rtmp_nodes', (node) => node.rtmpPort)}
${backend('rtmps_nodes', (node) => node.rtmpsPort)}`;
}

export interface LocalFleetOptions {
  nodes: number;
  front: FrontPorts;
  originUrl: string;
  /** The master INGEST_SECRET: each node gets only its own token derived from it. */
  ingestSecret: string;
  stateDir: string;
  env?: NodeJS.ProcessEnv;
  echo?: boolean;
  onLine?: (line: string) => void;
  basePorts?: { rtmp: number; rtmps: number; http: number };
}

export interface LocalFleet {
  nodes: Array<FleetNodePorts & { process: ManagedProcess }>;
  haproxy: ManagedProcess;
  configPath: string;
  /** Starts a node again on its ports and id (after it died); it registers as a new session. */
  restartNode(nodeId: string): Promise<void>;
}

/** Starts the nodes, then HAProxy in front of them; each process is stopped by stopAllManaged. */
export async function startLocalFleet(options: LocalFleetOptions): Promise<LocalFleet> {
  const plan = planFleetNodes(options.nodes, options.basePorts);
  const nodes: LocalFleet['nodes'] = [];
  const launchNode = async (node: FleetNodePorts): Promise<ManagedProcess> =>
    startTranscoder({
      rtmpPort: node.rtmpPort,
      httpPort: node.httpPort,
      originUrl: options.originUrl,
      ingestSecret: await deriveNodeToken(options.ingestSecret, node.nodeId),
      env: {
        ...options.env,
        RTMP_HOST: '127.0.0.1',
        RTMPS_PORT: String(node.rtmpsPort),
        FLEET_NODE_ID: node.nodeId,
        FLEET_REGION: 'local',
        FLEET_INGEST_URLS: `rtmp://127.0.0.1:${node.rtmpPort}/live`,
      },
      echo: options.echo ?? false,
      ...(options.onLine ? { onLine: options.onLine } : {}),
    });
  for (const node of plan) nodes.push({ ...node, process: await launchNode(node) });
  mkdirSync(options.stateDir, { recursive: true });
  const configPath = join(options.stateDir, 'haproxy.cfg');
  writeFileSync(configPath, renderHaproxyConfig(plan, options.front));
  // -db: stay in the foreground, so stopAllManaged stops it with the rest.
  const haproxy = spawnManaged('haproxy', 'haproxy', ['-db', '-f', configPath], {
    echo: options.echo ?? false,
    ...(options.onLine ? { onLine: options.onLine } : {}),
  });
  await Promise.race([
    waitForTcp(options.front.rtmp, 10_000),
    haproxy.exited.then((code) => {
      throw new Error(
        `haproxy exited (${code}) before listening: is it installed (apt-get install haproxy)?`,
      );
    }),
  ]);
  const restartNode = async (nodeId: string): Promise<void> => {
    const node = nodes.find((candidate) => candidate.nodeId === nodeId);
    if (!node) throw new Error(`no local node ${nodeId}`);
    await node.process.stop();
    node.process = await launchNode(node);
  };
  return { nodes, haproxy, configPath, restartNode };
}
