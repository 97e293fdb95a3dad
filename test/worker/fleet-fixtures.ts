// Helpers for the fleet tests: node tokens minted as an operator would, a fake node speaking the
// fleet API through SELF, and a reset of the one registry object between scenarios.
import { env, runInDurableObject, SELF } from 'cloudflare:test';
import { type RegisterRequest, RegisterResponse } from '../../protocol/fleet.ts';
import { AuthorizeResponse } from '../../protocol/ingest.ts';
import { deriveNodeToken } from '../../workers/origin/fleet-credentials.ts';
import { ORIGIN } from './origin-fixtures.ts';

export function registryStub() {
  return env.FLEET_REGISTRY.getByName('global');
}

/** Empties the registry: every scenario starts with no nodes and no placements. */
export async function resetRegistry(): Promise<void> {
  await runInDurableObject(registryStub(), (_instance, state) => {
    state.storage.sql.exec('DELETE FROM placements');
    state.storage.sql.exec('DELETE FROM nodes');
  });
}

/** Moves a node's last heartbeat into the past, as if it had been silent for `ms`. */
export async function ageNode(nodeId: string, ms: number): Promise<void> {
  await runInDurableObject(registryStub(), (_instance, state) => {
    state.storage.sql.exec('UPDATE nodes SET last_seen_at = last_seen_at - ? WHERE node_id = ?', ms, nodeId);
  });
}

export function nodeToken(nodeId: string): Promise<string> {
  return deriveNodeToken(env.INGEST_SECRET, nodeId);
}

export async function postFleet(path: string, token: string, body: unknown): Promise<Response> {
  return SELF.fetch(`${ORIGIN}/internal/fleet/${path}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
}

export interface TestNode {
  nodeId: string;
  token: string;
  session: string;
  seq: number;
}

export async function registerNode(
  nodeId: string,
  capacity: Partial<RegisterRequest['capacity']> = {},
): Promise<TestNode> {
  const token = await nodeToken(nodeId);
  const res = await postFleet('register', token, {
    node_id: nodeId,
    region: 'local',
    ingest_urls: [`rtmp://${nodeId}.ingest.test:1935/live`],
    capacity: { encode_slots: 8, max_streams: 4, gpu: false, ...capacity },
  });
  if (res.status !== 200) throw new Error(`register answered ${res.status}: ${await res.text()}`);
  const { session } = RegisterResponse.parse(await res.json());
  return { nodeId, token, session, seq: 0 };
}

export async function heartbeat(
  node: TestNode,
  options: { claims?: string[]; draining?: boolean; seq?: number } = {},
): Promise<Response> {
  node.seq = options.seq ?? node.seq + 1;
  return postFleet('heartbeat', node.token, {
    node_id: node.nodeId,
    session: node.session,
    seq: node.seq,
    load: { streams: options.claims?.length ?? 0, active_encodes: 0 },
    claims: options.claims ?? [],
    draining: options.draining ?? false,
  });
}

/** The publish authorization as a fleet node sends it (its node token, not INGEST_SECRET). */
export function authorizeOnNode(node: TestNode, streamKey: string): Promise<Response> {
  return SELF.fetch(`${ORIGIN}/internal/ingest/authorize`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${node.token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ stream_key: streamKey }),
  });
}

export async function placeOnNode(node: TestNode, streamKey: string): Promise<AuthorizeResponse> {
  const res = await authorizeOnNode(node, streamKey);
  if (res.status !== 200) throw new Error(`authorize answered ${res.status}: ${await res.text()}`);
  return AuthorizeResponse.parse(await res.json());
}
