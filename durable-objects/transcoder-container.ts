// The transcoder image as a Cloudflare Container. On Cloudflare, containers take only HTTP and
// WebSocket traffic routed through a Worker and have no GPUs, so this instance serves HTTP-borne
// ingest and clip jobs with x264; RTMP ingest runs the same image on ingest hosts with public
// ports (see README, "Deploy"). Locally (`wrangler dev --enable-containers=false`) the transcoder
// runs as a plain Node process instead.
import { Container } from '@cloudflare/containers';

export class TranscoderContainer extends Container<Env> {
  override defaultPort = 8080;
  override sleepAfter = '10m';
  override envVars = {
    HTTP_PORT: '8080',
  };
}
