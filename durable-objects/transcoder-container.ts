// The transcoder image (containers/transcoder/Dockerfile) declared as a Cloudflare Container class:
// wrangler.toml's [[containers]] entry builds the image and binds this class as TRANSCODER. No
// Worker route sends traffic to it yet; today ingest reaches the transcoder as a Node process on a
// host with RTMP port 1935 open (scripts/start.ts runs one locally; docs/architecture.md), which
// posts its parts to the Worker's /internal/ingest endpoints (containers/transcoder/src/upload/
// ingest-client.ts). The image serves /healthz and /stats on HTTP_PORT (config.ts), set here;
// main.ts binds that server to 127.0.0.1, so it must listen on all interfaces before a Worker
// route can reach it through this class.
import { Container } from '@cloudflare/containers';

export class TranscoderContainer extends Container<Env> {
  override defaultPort = 8080;
  override sleepAfter = '10m';
  override envVars = {
    HTTP_PORT: '8080',
  };
}
