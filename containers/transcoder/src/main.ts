// The transcoder service: RTMP ingest on RTMP_PORT (and RTMPS on RTMPS_PORT when a certificate is
// configured), WHIP and SRT ingest when their ports are set, one supervised pipeline per live stream, and a small HTTP port for health and figures. Every publish is authorized by the origin before
// NetStream.Publish.Start; every byte of media goes to the origin's internal ingest endpoint.
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { availableParallelism } from 'node:os';
import type { AuthorizeResponse } from '../../../protocol/ingest.ts';
import { readConfig } from './config.ts';
import { detectEncoder } from './ffmpeg/encoder.ts';
import type { EncodeCapacity } from './ffmpeg/ladder.ts';
import { startFleetMembership } from './fleet/membership.ts';
import { createLogSink } from './log.ts';
import { TranscoderMetrics } from './metrics/transcoder-metrics.ts';
import { StreamPipeline } from './pipeline.ts';
import { maskStreamKey, RtmpServer } from './rtmp/server.ts';
import { SrtServer } from './srt/srt-server.ts';
import { StandbyBudget } from './standby/standby-budget.ts';
import { IngestClient } from './upload/ingest-client.ts';
import { WhepService } from './whep/whep-server.ts';
import { WhipServer } from './whip/whip-server.ts';

const log = createLogSink({ service: 'transcoder' });

/** The RTMPS listener's certificate, read once at start: a bad path fails the start, loudly. */
async function readTlsConfig(config: {
  RTMPS_PORT: number;
  RTMPS_CERT_PATH?: string | undefined;
  RTMPS_KEY_PATH?: string | undefined;
}): Promise<{ port: number; cert: Buffer; key: Buffer } | undefined> {
  if (config.RTMPS_CERT_PATH === undefined || config.RTMPS_KEY_PATH === undefined) return undefined;
  const [cert, key] = await Promise.all([readFile(config.RTMPS_CERT_PATH), readFile(config.RTMPS_KEY_PATH)]);
  return { port: config.RTMPS_PORT, cert, key };
}

async function main(): Promise<void> {
  const config = readConfig(process.env, availableParallelism());
  if (config.TRANSCODER_ENCODER === 'x264') process.env.TRANSCODER_ENCODER = 'x264';
  const encoder = config.TRANSCODER_ENCODER === 'nvenc' ? 'h264_nvenc' : await detectEncoder();
  const client = new IngestClient({ baseUrl: config.ORIGIN_URL, secret: config.INGEST_SECRET });
  const pipelines = new Set<StreamPipeline>();
  let activeEncodes = 0;
  const capacity = {
    snapshot: (): EncodeCapacity => ({ activeEncodes, maxEncodes: config.maxEncodes }),
    add: (encodes: number) => {
      activeEncodes = Math.max(0, activeEncodes + encodes);
    },
  };
  // Hot standbys take only the encode slots active streams leave spare, and go first under load.
  const standbyBudget = new StandbyBudget(capacity.snapshot);
  // A fleet node relays the sources of these tiers to a standby on another node (docs/deploy.md,
  // "Relayed standby"); such a stream's standby is that one, not a second ffmpeg on this node.
  const relayStandbyTiers = (process.env.FLEET_NODE_ID ?? '') === '' ? [] : config.RELAY_STANDBY_TIERS;
  const standby = {
    hotStandbyTiers: config.HOT_STANDBY_TIERS.filter((tier) => !relayStandbyTiers.includes(tier)),
    standbyBudget,
    relayStandbyTiers,
  };
  // GET /metrics on the health/stats port (docs/operations.md).
  const metrics = new TranscoderMetrics({
    capacity: capacity.snapshot,
    encoder,
    nodeId: process.env.FLEET_NODE_ID,
  });

  // WHEP (WebRTC playback, docs/webrtc.md) shares WHIP's HTTP port and ICE port; off with WHIP.
  const ice = {
    port: config.WHIP_ICE_PORT,
    bindAddress: config.WHIP_ICE_BIND,
    iceServers: config.WHIP_ICE_SERVERS,
    advertisedAddresses: config.WHIP_PUBLIC_ADDRESSES,
  };
  const whep =
    config.WHIP_PORT === 0
      ? null
      : new WhepService({
          ice,
          log,
          maxViewers: config.WHEP_MAX_VIEWERS,
          maxRealtimeEncodes: config.WHEP_MAX_REALTIME_ENCODES,
        });
  const watchable = (session: { grant: AuthorizeResponse }) => [
    session.grant.channel_id,
    session.grant.stream_id,
  ];

  const tls = await readTlsConfig(config);
  const rtmp = new RtmpServer<AuthorizeResponse>({
    host: config.RTMP_HOST,
    port: config.RTMP_PORT,
    ...(tls === undefined ? {} : { tls }),
    log,
    authorize: async ({ streamKey, remoteAddress, traceId, backup, relay }) => {
      const result = await client.authorize(
        {
          stream_key: streamKey,
          client_ip: remoteAddress,
          ...(backup ? { backup: true } : {}),
          ...(relay ? { relay: true } : {}),
        },
        traceId,
      );
      log({
        event: 'rtmp.publish_authorization',
        trace_id: traceId,
        stream_key_prefix: maskStreamKey(streamKey),
        ok: result.ok,
        ...(backup ? { backup: true } : {}),
        ...(relay ? { relay: true } : {}),
        ...(result.ok
          ? {
              stream_id: result.grant.stream_id,
              continued: result.grant.continued,
              ...(result.grant.standby === true ? { standby: true } : {}),
            }
          : { reason: result.reason }),
      });
      return result;
    },
    onPublish: (session) => {
      const pipeline = new StreamPipeline(session, { client, encoder, capacity, log, ...standby });
      pipelines.add(pipeline);
      metrics.track('rtmp', session, pipeline);
      whep?.addSource(watchable(session), session);
      // The session's own reason (kicked, publisher_lost, ...) decides whether and how the origin
      // hears of the end: a kicked publish must not call /end. close() runs once, whoever calls first.
      session.onClose((reason) => {
        void pipeline.close(reason).finally(() => pipelines.delete(pipeline));
      });
      pipeline.start();
    },
  });

  // WHIP (WebRTC ingest, docs/webrtc.md): the same authorize call and the same pipeline as RTMP.
  const whip =
    config.WHIP_PORT === 0
      ? null
      : new WhipServer<AuthorizeResponse>({
          host: config.WHIP_HOST,
          port: config.WHIP_PORT,
          ice,
          ...(whep === null ? {} : { whep }),
          maxSessions: config.WHIP_MAX_SESSIONS,
          log,
          authorize: ({ streamKey, remoteAddress, traceId }) =>
            client.authorize({ stream_key: streamKey, client_ip: remoteAddress }, traceId),
          onUnstarted: (grant, reason, traceId) => {
            const publish = { channelId: grant.channel_id, publishId: grant.publish_id, traceId };
            const endReason = reason === 'publisher_closed' ? 'publisher_closed' : 'publisher_lost';
            client.end(publish, { reason: endReason }).catch((error: unknown) => {
              log({
                level: 'warn',
                event: 'whip.end_not_reported',
                stream_id: grant.stream_id,
                trace_id: traceId,
                error: String(error),
              });
            });
          },
          onPublish: (session, keyframes) => {
            const pipeline = new StreamPipeline(session, {
              client,
              encoder,
              capacity,
              log,
              ...standby,
              requestKeyframe: () => keyframes.requestKeyframe(),
            });
            pipelines.add(pipeline);
            metrics.track('whip', session, pipeline);
            whep?.addSource(watchable(session), session, () => keyframes.requestKeyframe());
            session.onClose((reason) => {
              void pipeline.close(reason).finally(() => pipelines.delete(pipeline));
            });
            pipeline.start();
          },
        });

  // SRT (docs/srt.md): one UDP port; the key and the passphrase are checked in the handshake, before
  // the connection is accepted; then the same authorize call and the same pipeline as RTMP.
  const srt =
    config.SRT_PORT === 0
      ? null
      : new SrtServer<AuthorizeResponse>({
          host: config.SRT_HOST,
          port: config.SRT_PORT,
          latencyMs: config.SRT_LATENCY_MS,
          maxSessions: config.SRT_MAX_SESSIONS,
          mediaTimeoutMs: config.SRT_MEDIA_TIMEOUT_MS,
          // Strangers on UDP share the allowance of strangers on TCP: one budget per network.
          guard: rtmp.preAuthGuard,
          log,
          passphrase: ({ streamKey, traceId }) => client.srtPassphrase(streamKey, traceId),
          authorize: async ({ streamKey, remoteAddress, traceId, backup }) => {
            const result = await client.authorize(
              { stream_key: streamKey, client_ip: remoteAddress, ...(backup ? { backup: true } : {}) },
              traceId,
            );
            log({
              event: 'srt.publish_authorization',
              trace_id: traceId,
              stream_key_prefix: maskStreamKey(streamKey),
              ok: result.ok,
              ...(backup ? { backup: true } : {}),
              ...(result.ok
                ? { stream_id: result.grant.stream_id, continued: result.grant.continued }
                : { reason: result.reason }),
            });
            return result;
          },
          onUnstarted: (grant, reason, traceId) => {
            const publish = { channelId: grant.channel_id, publishId: grant.publish_id, traceId };
            const endReason = reason === 'publisher_closed' ? 'publisher_closed' : 'publisher_lost';
            client.end(publish, { reason: endReason }).catch((error: unknown) => {
              log({
                level: 'warn',
                event: 'srt.end_not_reported',
                stream_id: grant.stream_id,
                trace_id: traceId,
                error: String(error),
              });
            });
          },
          onPublish: (session) => {
            const pipeline = new StreamPipeline(session, {
              client,
              encoder,
              capacity,
              log,
              relayStandbyTiers: standby.relayStandbyTiers,
            });
            pipelines.add(pipeline);
            metrics.track('srt', session, pipeline);
            whep?.addSource(watchable(session), session);
            session.onClose((reason) => {
              void pipeline.close(reason).finally(() => pipelines.delete(pipeline));
            });
            pipeline.start();
          },
        });

  // A fleet node (FLEET_NODE_ID set) registers with the origin and drains on SIGTERM (docs/deploy.md).
  const fleet = startFleetMembership(process.env, {
    originUrl: config.ORIGIN_URL,
    token: config.INGEST_SECRET,
    rtmpPort: config.RTMP_PORT,
    capacity: { encode_slots: config.maxEncodes, gpu: encoder === 'h264_nvenc' },
    load: () => ({ streams: pipelines.size, active_encodes: capacity.snapshot().activeEncodes }),
    claims: () => [...pipelines].map((pipeline) => pipeline.publishId),
    log,
  });

  const http = createServer((req, res) => {
    if (metrics.handle(req, res)) return;
    const url = new URL(req.url ?? '/', 'http://transcoder');
    if (url.pathname === '/healthz') {
      // Readiness: a draining node answers 503, so the front and Kubernetes send it nothing new.
      const draining = fleet?.member.draining ?? false;
      res.writeHead(draining ? 503 : 200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          ok: !draining,
          draining,
          node_id: fleet?.config.nodeId ?? null,
          encoder,
          streams: pipelines.size,
          ...capacity.snapshot(),
          // Memory and the strangers' share of it: what the pre-auth limits bound (docs/security.md).
          rss_bytes: process.memoryUsage.rss(),
          pre_auth_connections: rtmp.preAuth.connections,
          pre_auth_held_bytes: rtmp.preAuth.heldBytes,
          pre_auth_evictions: rtmp.preAuth.evictions,
        }),
      );
      return;
    }
    if (url.pathname === '/stats') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          encoder,
          streams: [...pipelines].map((p) => ({
            ...p.stats(),
            ffmpegPid: p.ffmpegPid,
            standbyPid: p.standbyPid,
          })),
        }),
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { code: 'not_found', message: 'Not found' } }));
  });

  await rtmp.start();
  await whip?.start();
  await srt?.start();
  await new Promise<void>((resolve) =>
    http.listen(config.HTTP_PORT, fleet?.config.httpHost ?? '127.0.0.1', resolve),
  );
  fleet?.member.start();
  log({
    event: 'transcoder.listening',
    rtmp_port: rtmp.port,
    rtmps_port: rtmp.tlsPort,
    whip_port: whip?.port ?? null,
    whip_ice_port: whip === null ? null : config.WHIP_ICE_PORT,
    srt_port: srt?.port ?? null,
    http_port: config.HTTP_PORT,
    encoder,
    max_encodes: config.maxEncodes,
    origin: config.ORIGIN_URL,
  });

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    log({ event: 'transcoder.stopping', streams: pipelines.size });
    await rtmp.close();
    whep?.close();
    await whip?.close();
    await srt?.close();
    await Promise.all([...pipelines].map((pipeline) => pipeline.close('server_closed')));
    await fleet?.member.close();
    http.close();
    process.exit(0);
  };
  // A fleet node drains first: live streams continue until they end or the drain deadline.
  process.on('SIGTERM', () => {
    if (fleet === null || stopping || fleet.member.draining) return void stop();
    void fleet.drain(() => pipelines.size).then(stop);
  });
  process.on('SIGINT', () => void stop());
}

main().catch((error: unknown) => {
  log({
    level: 'error',
    event: 'transcoder.start_failed',
    error: error instanceof Error ? error.message : String(error),
  });
  process.exit(1);
});
