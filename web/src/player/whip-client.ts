// Publishing a MediaStream over WHIP (RFC 9725) from the browser: one sendonly RTCPeerConnection,
// H.264 preferred (the ingest copies it; VP8 would be re-encoded), the offer sent once ICE gathering
// is complete (the ingest does not take trickled candidates, RFC 9725 §4.3), the answer applied, and
// the session's Location kept so stopping sends DELETE. A connection that fails or stays
// disconnected is republished with the same tracks, a bounded number of times, with backoff: the
// origin continues the same stream inside its reconnect window (docs/architecture.md).
import * as z from 'zod/mini';

const GATHERING_TIMEOUT_MS = 2_000;
const DISCONNECTED_GRACE_MS = 3_000;
const MAX_RECONNECTS = 5;

export type PublishState = 'idle' | 'connecting' | 'live' | 'reconnecting' | 'failed' | 'stopped';

export interface WhipPublishOptions {
  readonly whipUrl: string;
  readonly streamKey: string;
  readonly stream: MediaStream;
  /** Bits per second for the video encoder (RTCRtpEncodingParameters.maxBitrate). */
  readonly videoBitrate: number;
  readonly onState: (state: PublishState, detail?: string) => void;
}

const ErrorBody = z.object({ error: z.object({ message: z.string() }) });

/** A refusal the ingest explained in its JSON error body (401 bad key, 409 already publishing...). */
async function describeRefusal(response: Response): Promise<string> {
  const body = ErrorBody.safeParse(await response.json().catch(() => null));
  return body.success
    ? `${response.status}: ${body.data.error.message}`
    : `the ingest answered ${response.status}`;
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

export class WhipPublisher {
  readonly #options: WhipPublishOptions;
  #pc: RTCPeerConnection | null = null;
  #location: string | null = null;
  #stopped = false;
  #reconnects = 0;
  #disconnectTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(options: WhipPublishOptions) {
    this.#options = options;
  }

  async start(): Promise<void> {
    this.#options.onState('connecting');
    await this.#publish();
  }

  /** Ends the WHIP session (DELETE on its Location) and releases the connection. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#disconnectTimer !== null) clearTimeout(this.#disconnectTimer);
    await this.#teardown();
    this.#options.onState('stopped');
  }

  async #teardown(): Promise<void> {
    const location = this.#location;
    this.#location = null;
    this.#pc?.close();
    this.#pc = null;
    if (location === null) return;
    await fetch(new URL(location, this.#options.whipUrl), {
      method: 'DELETE',
      headers: { authorization: `Bearer ${this.#options.streamKey}` },
    }).catch(() => undefined);
  }

  async #publish(): Promise<void> {
    const pc = new RTCPeerConnection();
    this.#pc = pc;
    for (const track of this.#options.stream.getTracks()) {
      const transceiver = pc.addTransceiver(track, {
        direction: 'sendonly',
        streams: [this.#options.stream],
      });
      if (track.kind === 'video') {
        const codecs = RTCRtpSender.getCapabilities('video')?.codecs ?? [];
        const h264 = codecs.filter((codec) => codec.mimeType.toLowerCase() === 'video/h264');
        if (h264.length > 0)
          transceiver.setCodecPreferences([...h264, ...codecs.filter((c) => !h264.includes(c))]);
        const parameters = transceiver.sender.getParameters();
        parameters.encodings = [{ maxBitrate: this.#options.videoBitrate }];
        await transceiver.sender.setParameters(parameters).catch(() => undefined);
      }
    }
    pc.addEventListener('connectionstatechange', () => this.#onConnectionState(pc));
    await pc.setLocalDescription(await pc.createOffer());
    await waitForGathering(pc);
    const response = await fetch(this.#options.whipUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/sdp', authorization: `Bearer ${this.#options.streamKey}` },
      body: pc.localDescription?.sdp ?? '',
    });
    if (response.status !== 201) {
      pc.close();
      throw new Error(await describeRefusal(response));
    }
    this.#location = response.headers.get('location');
    await pc.setRemoteDescription({ type: 'answer', sdp: await response.text() });
  }

  #onConnectionState(pc: RTCPeerConnection): void {
    if (pc !== this.#pc || this.#stopped) return;
    const state = pc.connectionState;
    if (state === 'connected') {
      if (this.#disconnectTimer !== null) clearTimeout(this.#disconnectTimer);
      this.#disconnectTimer = null;
      this.#reconnects = 0;
      this.#options.onState('live');
    } else if (state === 'failed') {
      void this.#reconnect();
    } else if (state === 'disconnected' && this.#disconnectTimer === null) {
      // ICE often recovers by itself from a short outage (consent freshness, RFC 7675).
      this.#disconnectTimer = setTimeout(() => void this.#reconnect(), DISCONNECTED_GRACE_MS);
    }
  }

  async #reconnect(): Promise<void> {
    this.#disconnectTimer = null;
    if (this.#stopped) return;
    if (this.#reconnects >= MAX_RECONNECTS) {
      this.#options.onState('failed', 'the connection to the ingest was lost');
      await this.#teardown();
      return;
    }
    this.#reconnects += 1;
    this.#options.onState('reconnecting', `attempt ${this.#reconnects} of ${MAX_RECONNECTS}`);
    await this.#teardown();
    await new Promise((resolve) => setTimeout(resolve, 1_000 * 2 ** (this.#reconnects - 1)));
    if (this.#stopped) return;
    try {
      await this.#publish();
    } catch (error) {
      this.#options.onState('reconnecting', error instanceof Error ? error.message : String(error));
      void this.#reconnect();
    }
  }
}
