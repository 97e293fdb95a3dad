// The transcoder's settings, read once from the environment and validated.
import { z } from 'zod';
import { ChannelTier } from '../../../protocol/ingest.ts';

/** A comma-separated list of channel tiers (`partner,affiliate`); empty = none. */
function tierList(defaultValue: string) {
  return z
    .string()
    .default(defaultValue)
    .transform((value) =>
      value
        .split(',')
        .map((part) => part.trim())
        .filter((part) => part !== ''),
    )
    .pipe(z.array(ChannelTier).max(3));
}

const TranscoderEnv = z.object({
  /** The Worker's base URL; the internal ingest endpoint lives under /internal/ingest. */
  ORIGIN_URL: z.url(),
  INGEST_SECRET: z.string().min(8),
  RTMP_HOST: z.string().default('0.0.0.0'),
  RTMP_PORT: z.coerce.number().int().min(0).max(65535).default(1935),
  /**
   * RTMPS (RTMP inside TLS, `rtmps://host:1936/live`): on when both PEM paths are set. The
   * operator's certificate in production; `npm start` generates a self-signed one for local runs.
   */
  RTMPS_PORT: z.coerce.number().int().min(0).max(65535).default(1936),
  RTMPS_CERT_PATH: z.string().min(1).optional(),
  RTMPS_KEY_PATH: z.string().min(1).optional(),
  HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  /** x264 | nvenc | auto (NVENC when an NVIDIA GPU with h264_nvenc is present). */
  TRANSCODER_ENCODER: z.enum(['auto', 'x264', 'nvenc']).default('auto'),
  /**
   * How many encoded renditions this host runs at once before new streams get fewer. The default
   * is a rough CPU budget: about two x264 renditions at 720p30 per core with `veryfast`.
   */
  MAX_ENCODES: z.coerce.number().int().positive().optional(),
  /**
   * Comma-separated tiers whose streams get an in-node hot standby (a second ffmpeg on the same
   * input, promoted when the active one dies; docs/deploy.md, "Hot standby"), from the encode slots
   * the active streams leave spare. Empty = none.
   */
  HOT_STANDBY_TIERS: tierList('partner'),
  /**
   * Comma-separated tiers whose source a fleet node (FLEET_NODE_ID set) relays to a standby on
   * another node, which goes on air when this node's transcode fails or this publish falls silent
   * (docs/deploy.md, "Relayed standby"). Empty = none; ignored outside a fleet.
   */
  RELAY_STANDBY_TIERS: tierList('partner'),
  /**
   * WHIP (WebRTC ingest, docs/webrtc.md): the HTTP port of `POST /whip`. 0 (the default) = off, so
   * processes that do not ask for it (tests, several transcoders on one host) claim no UDP port;
   * the image sets 8889.
   */
  WHIP_PORT: z.coerce.number().int().min(0).max(65535).default(0),
  WHIP_HOST: z.string().default('0.0.0.0'),
  /** The one UDP port every WebRTC session's ICE shares, and the address it binds. */
  WHIP_ICE_PORT: z.coerce.number().int().min(1).max(65535).default(8189),
  WHIP_ICE_BIND: z.string().default('0.0.0.0'),
  /** Comma-separated IPs advertised as host candidates on WHIP_ICE_PORT (a public IP, 127.0.0.1). */
  WHIP_PUBLIC_ADDRESSES: z
    .string()
    .default('')
    .transform((value) =>
      value
        .split(',')
        .map((part) => part.trim())
        .filter((part) => part !== ''),
    )
    .pipe(z.array(z.union([z.ipv4(), z.ipv6()])).max(8)),
  /** Comma-separated `stun:host:port` / `turn:user:pass@host:port` URLs (libdatachannel's forms). */
  WHIP_ICE_SERVERS: z
    .string()
    .default('')
    .transform((value) =>
      value
        .split(',')
        .map((part) => part.trim())
        .filter((part) => part !== ''),
    )
    .pipe(z.array(z.string().regex(/^(stun|turns?):[^\s]+$/)).max(8)),
  /** WebRTC publishers one node takes at once (each runs a bridge ffmpeg beside its pipeline). */
  WHIP_MAX_SESSIONS: z.coerce.number().int().positive().default(32),
  /**
   * WHEP viewers (WebRTC playback, docs/webrtc.md) one node serves at once, all streams together;
   * past it a viewer gets 503 and the player falls back to LL-HLS. WHEP is on when WHIP_PORT is.
   */
  WHEP_MAX_VIEWERS: z.coerce.number().int().positive().max(10_000).default(100),
  /**
   * Real-time renditions (a B-frame-free re-encode for WebRTC viewers of a source with B-frames,
   * about a quarter of a core each at 720p30) this node runs at once; viewers of a further such
   * stream get 503 and play LL-HLS, so viewers cannot buy a node's CPU away from its broadcasts.
   */
  WHEP_MAX_REALTIME_ENCODES: z.coerce.number().int().min(0).max(64).default(2),
  /**
   * SRT ingest (docs/srt.md): the one UDP port every SRT publisher shares. 0 (the default) = off, as
   * WHIP, so tests and several transcoders on one host claim no UDP port; the image sets 8890
   * (MediaMTX's SRT port; 1945 is the backup RTMP address in ops/compose).
   */
  SRT_PORT: z.coerce.number().int().min(0).max(65535).default(0),
  SRT_HOST: z.string().default('0.0.0.0'),
  /** The receiver's latency (TSBPD delay); the agreed one is the greater of this and the caller's. */
  SRT_LATENCY_MS: z.coerce.number().int().min(20).max(8_000).default(120),
  /** SRT publishers one node takes at once (each runs a bridge ffmpeg beside its pipeline). */
  SRT_MAX_SESSIONS: z.coerce.number().int().positive().max(1_000).default(32),
  /** No packet for this long and an SRT publisher counts as dropped (the reconnect window starts). */
  SRT_MEDIA_TIMEOUT_MS: z.coerce.number().int().min(1_000).max(60_000).default(10_000),
});

export type TranscoderConfig = z.infer<typeof TranscoderEnv> & { maxEncodes: number };

export function readConfig(env: NodeJS.ProcessEnv, cpuCount: number): TranscoderConfig {
  const parsed = TranscoderEnv.safeParse(env);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((issue) => issue.path.join('.')).join(', ');
    throw new Error(`invalid transcoder configuration (${fields}): set ORIGIN_URL and INGEST_SECRET`);
  }
  if ((parsed.data.RTMPS_CERT_PATH === undefined) !== (parsed.data.RTMPS_KEY_PATH === undefined)) {
    throw new Error(
      'invalid transcoder configuration: set both RTMPS_CERT_PATH and RTMPS_KEY_PATH, or neither',
    );
  }
  return { ...parsed.data, maxEncodes: parsed.data.MAX_ENCODES ?? Math.max(2, cpuCount * 2) };
}
