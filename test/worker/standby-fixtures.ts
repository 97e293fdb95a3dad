// The calls of a stream's two publishes on two fleet nodes (docs/deploy.md, "Dual publish" and
// "Relayed standby"): authorize with the backup or relay flag, a publish's standby, yield and
// relay-target calls with its node's token, and the LiveStream's takeover silence set by the test.
// Shared by test/worker/dual-publish.test.ts and test/worker/relayed-standby.test.ts.
import { env, SELF } from 'cloudflare:test';
import { AuthorizeResponse, StandbyClaimResponse } from '../../protocol/ingest.ts';
import { registryStub, type TestNode } from './fleet-fixtures.ts';
import { INGEST_AUTH, ORIGIN, runInTestLiveStream } from './origin-fixtures.ts';

export function authorizeOn(
  node: TestNode,
  streamKey: string,
  flags: { backup?: boolean; relay?: boolean } = {},
): Promise<Response> {
  return SELF.fetch(`${ORIGIN}/internal/ingest/authorize`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${node.token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({
      stream_key: streamKey,
      ...(flags.backup ? { backup: true } : {}),
      ...(flags.relay ? { relay: true } : {}),
    }),
  });
}

export async function admitOn(
  node: TestNode,
  streamKey: string,
  flags: { backup?: boolean; relay?: boolean } = {},
): Promise<AuthorizeResponse> {
  const res = await authorizeOn(node, streamKey, flags);
  if (res.status !== 200) throw new Error(`authorize answered ${res.status}: ${await res.text()}`);
  return AuthorizeResponse.parse(await res.json());
}

/** A publish's call with its node's token (the master secret when `node` is null). */
export function callPublish(
  node: TestNode | null,
  publish: AuthorizeResponse,
  kind: 'standby' | 'yield' | 'relay-target',
): Promise<Response> {
  return SELF.fetch(`${ORIGIN}/internal/ingest/${publish.channel_id}/${publish.publish_id}/${kind}`, {
    method: 'POST',
    headers: node === null ? INGEST_AUTH : { Authorization: `Bearer ${node.token}` },
  });
}

export async function readClaim(node: TestNode, publish: AuthorizeResponse): Promise<StandbyClaimResponse> {
  const res = await callPublish(node, publish, 'standby');
  if (res.status !== 200) throw new Error(`claim answered ${res.status}: ${await res.text()}`);
  return StandbyClaimResponse.parse(await res.json());
}

/** The takeover silence of the channel's LiveStream: 0 makes the publish on air count as silent now. */
export function setTakeoverSilence(channelId: string, takeoverSilenceMs: number): Promise<void> {
  return runInTestLiveStream(env.LIVE_STREAM.getByName(channelId), (instance) =>
    instance.setTimings({ takeoverSilenceMs }),
  );
}

/** The registry's placements as [node, publish id], by node. */
export async function listPlacements(): Promise<Array<[string, string | null]>> {
  const all = (await registryStub().snapshot()).placements;
  return all
    .map((p): [string, string | null] => [p.nodeId, p.publishId])
    .sort(([x], [y]) => x.localeCompare(y));
}
