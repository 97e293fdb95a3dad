// Node tokens: how a transcoder node proves which node it is (docs/deploy.md, "Credentials").
// token = "fleet1." + node_id + "." + hex(HMAC-SHA256(INGEST_SECRET, "edgestream-fleet-node:" + node_id)).
// The operator mints one per node (`node scripts/fleet-token.ts <node_id>`, or scripts/start.ts for local
// fleets) and gives each node only its own token, never INGEST_SECRET: a node can then neither
// heart-beat as another node nor upload to a stream placed elsewhere. The Worker verifies here;
// fleet-token.ts mints (Web Crypto only, so the scripts mint with the same code).
import { FLEET_TOKEN_PREFIX, FleetNodeId } from '../../protocol/fleet.ts';
import { deriveNodeToken } from './fleet-token.ts';

export { deriveNodeToken };

const encoder = new TextEncoder();

/**
 * The node id a bearer token proves, or null (not a node token, malformed, or a wrong signature).
 * Compared as digests in constant time, so the time taken says nothing about the right signature.
 */
export async function verifyNodeToken(secret: string, token: string): Promise<string | null> {
  if (!token.startsWith(FLEET_TOKEN_PREFIX)) return null;
  const rest = token.slice(FLEET_TOKEN_PREFIX.length);
  const dot = rest.lastIndexOf('.');
  if (dot <= 0) return null;
  const nodeId = FleetNodeId.safeParse(rest.slice(0, dot));
  if (!nodeId.success) return null;
  const expected = await deriveNodeToken(secret, nodeId.data);
  const [given, wanted] = await Promise.all([
    crypto.subtle.digest('SHA-256', encoder.encode(token)),
    crypto.subtle.digest('SHA-256', encoder.encode(expected)),
  ]);
  return crypto.subtle.timingSafeEqual(given, wanted) ? nodeId.data : null;
}

/** Who is calling an internal endpoint: the operator's master secret, or one proven node. */
export type IngestCaller = { kind: 'master' } | { kind: 'node'; nodeId: string };

/**
 * Reads `Authorization: Bearer ...`: INGEST_SECRET itself (a single transcoder, `npm start`), or a
 * node token. Null for anything else.
 */
export async function authenticateIngest(
  header: string | undefined,
  secret: string,
): Promise<IngestCaller | null> {
  if (!header?.startsWith('Bearer ')) return null;
  const token = header.slice('Bearer '.length);
  if (token.startsWith(FLEET_TOKEN_PREFIX)) {
    const nodeId = await verifyNodeToken(secret, token);
    return nodeId === null ? null : { kind: 'node', nodeId };
  }
  const [given, expected] = await Promise.all([
    crypto.subtle.digest('SHA-256', encoder.encode(token)),
    crypto.subtle.digest('SHA-256', encoder.encode(secret)),
  ]);
  return crypto.subtle.timingSafeEqual(given, expected) ? { kind: 'master' } : null;
}
