// Real-time playback over WHEP (draft-ietf-wish-whep, docs/webrtc.md): one receive-only
// RTCPeerConnection (video + audio), the offer POSTed once ICE gathering is complete (the node takes
// no trickled candidates), the answer applied, and the session's Location kept so leaving sends
// DELETE. Anything that keeps the viewer from seeing frames soon — a refusal (503 node full, 404 not
// on this node), a network error, ICE not connected in time, decoded frames that stop — ends the
// session and is reported once through `onFailure`, so the player can fall back to LL-HLS.
import * as z from 'zod/mini';

const GATHERING_TIMEOUT_MS = 2_000;
const OFFER_TIMEOUT_MS = 5_000;
/** From the answer to `connected`; loopback and LAN take well under a second. */
const CONNECT_TIMEOUT_MS = 5_000;
/**
 * From `connected` to the first decoded frame: the node sends video from the next keyframe (an
 * RTMP source's GOP, 2 s for OBS's recommended settings; a WHIP source is asked for one at once).
 */
const FIRST_FRAME_TIMEOUT_MS = 8_000;
/** Decoded frames that stop increasing for this long count as the media having stopped. */
const MEDIA_STALL_MS = 4_000;
const STATS_INTERVAL_MS = 1_000;

export type WhepFailure =
  | 'refused_full'
  | 'not_available'
  | 'refused'
  | 'network'
  | 'not_connected'
  | 'media_stopped';

const ErrorBody = z.object({ error: z.object({ code: z.string() }) });

export interface WhepPlaybackOptions {
  readonly whepUrl: string;
  readonly video: HTMLVideoElement;
  /** Called at most once; the session is already closed when it is. */
  readonly onFailure: (failure: WhepFailure, detail: string) => void;
  /** Called when the remote tracks are on the video element (the player then calls `play()`). */
  readonly onStream: () => void;
}

/** One viewer's WHEP session; `stop()` (leave, switch) closes it and DELETEs it on the node. */
export class WhepPlayback {
  readonly #options: WhepPlaybackOptions;
  readonly #pc: RTCPeerConnection;
  readonly #abort = new AbortController();
  #location: string | null = null;
  #closed = false;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #statsTimer: ReturnType<typeof setInterval> | null = null;
  #framesDecoded = 0;

  constructor(options: WhepPlaybackOptions) {
    this.#options = options;
    this.#pc = new RTCPeerConnection();
  }

  /** Starts the session; failures go to `onFailure`, never thrown. */
  async start(): Promise<void> {
    try {
      await this.#negotiate();
    } catch (error) {
      if (this.#closed) return;
      const aborted = error instanceof DOMException && error.name === 'TimeoutError';
      this.#fail('network', aborted ? 'no answer from the real-time server' : String(error));
    }
  }

  async #negotiate(): Promise<void> {
    const pc = this.#pc;
    const video = pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    // The node sends the publisher's H.264 as it is (no re-encode): offer it first.
    const codecs = RTCRtpReceiver.getCapabilities('video')?.codecs ?? [];
    const h264 = codecs.filter((codec) => codec.mimeType.toLowerCase() === 'video/h264');
    if (h264.length > 0) video.setCodecPreferences([...h264, ...codecs.filter((c) => !h264.includes(c))]);
    const stream = new MediaStream();
    pc.addEventListener('track', (event) => {
      stream.addTrack(event.track);
      if (this.#options.video.srcObject === stream) return;
      this.#options.video.srcObject = stream;
      this.#options.onStream();
    });
    pc.addEventListener('connectionstatechange', () => this.#onConnectionState());
    await pc.setLocalDescription(await pc.createOffer());
    await waitForGathering(pc);
    if (this.#closed) return;
    const response = await fetch(this.#options.whepUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/sdp' },
      body: pc.localDescription?.sdp ?? '',
      signal: AbortSignal.any([this.#abort.signal, AbortSignal.timeout(OFFER_TIMEOUT_MS)]),
    });
    if (this.#closed) return;
    if (response.status !== 201) {
      const code = await readErrorCode(response);
      if (response.status === 503) this.#fail('refused_full', code ?? 'busy');
      else if (response.status === 404) this.#fail('not_available', code ?? 'not_live');
      else this.#fail('refused', `${response.status} ${code ?? ''}`.trim());
      return;
    }
    const location = response.headers.get('location');
    this.#location = location === null ? null : new URL(location, this.#options.whepUrl).toString();
    await pc.setRemoteDescription({ type: 'answer', sdp: await response.text() });
    this.#arm(CONNECT_TIMEOUT_MS, 'not_connected', 'the real-time connection did not come up');
  }

  #onConnectionState(): void {
    if (this.#closed) return;
    const state = this.#pc.connectionState;
    if (state === 'connected' && this.#statsTimer === null) {
      this.#arm(FIRST_FRAME_TIMEOUT_MS, 'media_stopped', 'no video arrived');
      this.#statsTimer = setInterval(() => void this.#checkFrames(), STATS_INTERVAL_MS);
    } else if (state === 'failed' || state === 'closed') {
      this.#fail('not_connected', `the connection ${state}`);
    } else if (state === 'disconnected') {
      this.#arm(MEDIA_STALL_MS, 'not_connected', 'the connection was lost');
    }
  }

  async #checkFrames(): Promise<void> {
    const report = await this.#pc.getStats().catch(() => null);
    if (report === null || this.#closed) return;
    let decoded = 0;
    report.forEach((entry: { type?: string; kind?: string; framesDecoded?: number }) => {
      if (entry.type === 'inbound-rtp' && entry.kind === 'video') decoded = entry.framesDecoded ?? 0;
    });
    if (decoded <= this.#framesDecoded) return;
    this.#framesDecoded = decoded;
    // Frames flow: the deadline moves with them (a reconnect of ICE included).
    this.#arm(MEDIA_STALL_MS, 'media_stopped', 'the real-time video stopped');
  }

  #arm(ms: number, failure: WhepFailure, detail: string): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#fail(failure, detail), ms);
  }

  #fail(failure: WhepFailure, detail: string): void {
    if (this.#closed) return;
    void this.stop();
    this.#options.onFailure(failure, detail);
  }

  /**
   * Closes the connection and DELETEs the session; safe to call more than once. `leaving`: the
   * page is going away, so the DELETE is sent with keepalive (else the node notices the missing
   * RTCP after 10 s).
   */
  async stop(leaving = false): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort();
    if (this.#timer !== null) clearTimeout(this.#timer);
    if (this.#statsTimer !== null) clearInterval(this.#statsTimer);
    this.#pc.close();
    const location = this.#location;
    this.#location = null;
    if (location !== null) {
      await fetch(location, { method: 'DELETE', keepalive: leaving }).catch(() => undefined);
    }
  }
}

async function readErrorCode(response: Response): Promise<string | null> {
  const body = ErrorBody.safeParse(await response.json().catch(() => null));
  return body.success ? body.data.error.code : null;
}

function waitForGathering(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, GATHERING_TIMEOUT_MS);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

/** The one line the viewer is told when real-time playback falls back to LL-HLS. */
export function describeWhepFailure(failure: WhepFailure): string {
  switch (failure) {
    case 'refused_full':
      return 'Real-time is full right now — playing low latency instead.';
    case 'not_available':
      return 'Real-time is not available for this stream — playing low latency instead.';
    case 'refused':
      return 'Real-time was refused — playing low latency instead.';
    case 'network':
      return 'Real-time could not be reached — playing low latency instead.';
    case 'not_connected':
      return 'Real-time could not connect (your network may block it) — playing low latency instead.';
    case 'media_stopped':
      return 'Real-time video stopped — playing low latency instead.';
  }
}
