// The transcoder service: RTMP ingest on RTMP_PORT, one supervised pipeline per live stream, and a
// small HTTP port for health and figures. Every publish is authorized by the origin before
// NetStream.Publish.Start; every byte of media goes to the origin's internal ingest endpoint.
import { createServer } from 'node:http';
import { availableParallelism } from 'node:os';
import type { AuthorizeResponse } from '../../../protocol/ingest.ts';
import { readConfig } from './config.ts';
import { detectEncoder } from './ffmpeg/encoder.ts';
import type { EncodeCapacity } from './ffmpeg/ladder.ts';
import { StreamPipeline } from './pipeline.ts';
import { maskStreamKey, RtmpServer } from './rtmp/server.ts';
import { IngestClient } from './upload/ingest-client.ts';

function log(event: Record<string, unknown>): void {
  process.stdout.write(
    `${JSON.stringify({ time: new Date().toISOString(), service: 'transcoder', ...event })}\n`,
  );
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

  const rtmp = new RtmpServer<AuthorizeResponse>({
    host: config.RTMP_HOST,
    port: config.RTMP_PORT,
    log,
    authorize: async ({ streamKey, remoteAddress }) => {
      const result = await client.authorize({ stream_key: streamKey, client_ip: remoteAddress });
      log({
        level: 'info',
        msg: 'publish authorization',
        key: maskStreamKey(streamKey),
        ok: result.ok,
        ...(result.ok
          ? { stream_id: result.grant.stream_id, continued: result.grant.continued }
          : { reason: result.reason }),
      });
      return result;
    },
    onPublish: (session) => {
      const pipeline = new StreamPipeline(session, { client, encoder, capacity, log });
      pipelines.add(pipeline);
      // The session's own reason (kicked, publisher_lost, ...) decides whether and how the origin
      // hears of the end: a kicked publish must not call /end. close() runs once, whoever calls first.
      session.onClose((reason) => {
        void pipeline.close(reason).finally(() => pipelines.delete(pipeline));
      });
      pipeline.start();
    },
  });

  const http = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://transcoder');
    if (url.pathname === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true, encoder, streams: pipelines.size, ...capacity.snapshot() }));
      return;
    }
    if (url.pathname === '/stats') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          encoder,
          streams: [...pipelines].map((p) => ({ ...p.stats(), ffmpegPid: p.ffmpegPid })),
        }),
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { code: 'not_found', message: 'Not found' } }));
  });

  await rtmp.start();
  await new Promise<void>((resolve) => http.listen(config.HTTP_PORT, '127.0.0.1', resolve));
  log({
    level: 'info',
    msg: 'transcoder listening',
    rtmp_port: rtmp.port,
    http_port: config.HTTP_PORT,
    encoder,
    max_encodes: config.maxEncodes,
    origin: config.ORIGIN_URL,
  });

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    log({ level: 'info', msg: 'transcoder stopping', streams: pipelines.size });
    await rtmp.close();
    await Promise.all([...pipelines].map((pipeline) => pipeline.close('server_closed')));
    http.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}

main().catch((error: unknown) => {
  log({
    level: 'error',
    msg: 'transcoder failed to start',
    error: error instanceof Error ? error.message : String(error),
  });
  process.exit(1);
});
