// The fleet settings of a transcoder node, read from the environment beside config.ts
// (docs/deploy.md, "Node settings"). Without FLEET_NODE_ID the process is a lone transcoder
// (`npm start`): no registry, no placement, SIGTERM stops at once as before. With it, INGEST_SECRET
// holds the node's own token (fleet1.<node id>.<hmac>, minted by the operator), never the master
// secret, so a node can speak only for itself.
import { z } from 'zod';
import { FLEET_TOKEN_PREFIX, FleetNodeId } from '../../../../protocol/fleet.ts';

const csv = z.string().transform((value) =>
  value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== ''),
);

const FleetEnv = z.object({
  FLEET_NODE_ID: FleetNodeId,
  FLEET_REGION: z
    .string()
    .regex(/^[a-z0-9-]{1,32}$/)
    .default('local'),
  /** Comma-separated public ingest addresses (rtmp://host:1935/live, rtmps://...) the registry keeps. */
  FLEET_INGEST_URLS: csv
    .pipe(
      z
        .array(
          z
            .string()
            .regex(/^rtmps?:\/\/[^\s]+$/)
            .max(200),
        )
        .max(8),
    )
    .optional(),
  /** Streams this node takes at once, passthrough ones included. */
  FLEET_MAX_STREAMS: z.coerce.number().int().min(1).max(1024).default(16),
  /**
   * How long a SIGTERM'd node lets live streams continue before it ends them and exits. Keep it
   * below the orchestrator's grace period (ops/k8s: terminationGracePeriodSeconds 3660).
   */
  DRAIN_DEADLINE_SECONDS: z.coerce.number().int().min(0).max(86_400).default(3600),
  /** The health port's address: 0.0.0.0 where probes come from outside (host networking). */
  HTTP_HOST: z.string().default('127.0.0.1'),
});

export interface FleetConfig {
  nodeId: string;
  region: string;
  ingestUrls: string[] | undefined;
  maxStreams: number;
  drainDeadlineMs: number;
  httpHost: string;
}

/** The fleet settings, or null on a lone transcoder (no FLEET_NODE_ID). Throws on a bad setting. */
export function readFleetConfig(env: NodeJS.ProcessEnv): FleetConfig | null {
  if (env.FLEET_NODE_ID === undefined || env.FLEET_NODE_ID === '') return null;
  const parsed = FleetEnv.safeParse(env);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((issue) => issue.path.join('.')).join(', ');
    throw new Error(`invalid fleet configuration (${fields})`);
  }
  const { data } = parsed;
  if (!env.INGEST_SECRET?.startsWith(`${FLEET_TOKEN_PREFIX}${data.FLEET_NODE_ID}.`))
    throw new Error(
      `invalid fleet configuration: INGEST_SECRET must be the node token of ${data.FLEET_NODE_ID} (node scripts/fleet-token.ts)`,
    );
  return {
    nodeId: data.FLEET_NODE_ID,
    region: data.FLEET_REGION,
    ingestUrls: data.FLEET_INGEST_URLS,
    maxStreams: data.FLEET_MAX_STREAMS,
    drainDeadlineMs: data.DRAIN_DEADLINE_SECONDS * 1000,
    httpHost: data.HTTP_HOST,
  };
}
