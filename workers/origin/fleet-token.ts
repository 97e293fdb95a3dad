// Mints a node token (fleet-credentials.ts says what it proves): runtime-neutral Web Crypto, so the
// Worker, `npm start -- --nodes N` and scripts/fleet-token.ts derive the same token.
// token = "fleet1." + node_id + "." + hex(HMAC-SHA256(INGEST_SECRET, "edgestream-fleet-node:" + node_id))
import { encodeHex } from '../../common/hashing.ts';
import { FLEET_TOKEN_PREFIX, FleetNodeId } from '../../protocol/fleet.ts';

const encoder = new TextEncoder();

async function signNodeId(secret: string, nodeId: string): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey(
    'raw',
    encoder.encode(secret),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  );
  return new Uint8Array(
    await crypto.subtle.sign('HMAC', key, encoder.encode(`edgestream-fleet-node:${nodeId}`)),
  );
}

/** The token of one node. */
export async function deriveNodeToken(secret: string, nodeId: string): Promise<string> {
  const id = FleetNodeId.parse(nodeId);
  return `${FLEET_TOKEN_PREFIX}${id}.${encodeHex(await signNodeId(secret, id))}`;
}
