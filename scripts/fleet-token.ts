// Prints the node token of a fleet node: `INGEST_SECRET=... node scripts/fleet-token.ts node-7`.
// Give that node only this token (its INGEST_SECRET), never the master secret (docs/deploy.md).
import { deriveNodeToken } from '../workers/origin/fleet-token.ts';

const nodeId = process.argv[2];
const secret = process.env.INGEST_SECRET;
if (nodeId === undefined || secret === undefined || secret === '') {
  console.error('usage: INGEST_SECRET=<master secret> node scripts/fleet-token.ts <node-id>');
  process.exit(2);
}
console.log(await deriveNodeToken(secret, nodeId));
