// A channel live on a whole local platform (wrangler dev + transcoder), published by the clocked
// ffmpeg publisher: what the latency, publish-delay and origin benchmarks measure against.
import { waitFor } from '../../scripts/lib/platform.ts';
import { type Platform, startPlatform } from '../../test/e2e/harness.ts';
import { ApiClient, uniqueName } from '../../test/e2e/lib/api.ts';
import type { Benchmark, BenchOutcome } from './bench.ts';
import { type ClockedPublisher, type ClockedPublishOptions, startClockedPublisher } from './publisher.ts';

export interface LiveSession {
  readonly platform: Platform;
  readonly channelId: string;
  readonly streamId: string;
  readonly manifestUrl: string;
  readonly publisher: ClockedPublisher;
  /** Epoch ms when the publisher was spawned. */
  readonly publishedAt: number;
  /** Epoch ms when the API first reported the stream live. */
  readonly liveAt: number;
  mediaPlaylistUrl(rendition: string): string;
  stop(): Promise<void>;
}

interface LiveBody {
  stream_id: string;
  manifest_url: string;
}

const LIVE_TIMEOUT_MS = 45_000;

/**
 * A benchmark measured against one live session: a fresh platform and publisher started before
 * `measure` and stopped after it, whether it finished or threw.
 */
export function defineLiveBenchmark(
  name: string,
  publish: ClockedPublishOptions,
  measure: (session: LiveSession) => Promise<BenchOutcome>,
): Benchmark {
  return {
    name,
    run: async () => {
      const session = await startLiveSession(publish);
      try {
        return await measure(session);
      } finally {
        await session.stop();
      }
    },
  };
}

export async function startLiveSession(publish: ClockedPublishOptions): Promise<LiveSession> {
  const platform = await startPlatform({ transcoder: true });
  let publisher: ClockedPublisher | undefined;
  try {
    const api = new ApiClient(platform.baseUrl);
    const me = await api.signup(uniqueName('bench'));
    const { stream_key } = await api.streamKey(me.channel.id);
    const publishedAt = Date.now();
    publisher = startClockedPublisher(`${platform.rtmpUrl}/${stream_key}`, publish);
    const live = await waitFor(
      'the stream to go live',
      async () => {
        const res = await api.request<LiveBody>('GET', `/streams/${me.channel.id}/live`);
        return res.status === 200 ? res.body : undefined;
      },
      LIVE_TIMEOUT_MS,
      100,
    );
    const liveAt = Date.now();
    const started = publisher;
    return {
      platform,
      channelId: me.channel.id,
      streamId: live.stream_id,
      manifestUrl: live.manifest_url,
      publisher: started,
      publishedAt,
      liveAt,
      mediaPlaylistUrl: (rendition) => new URL(`${rendition}.m3u8`, live.manifest_url).toString(),
      stop: async () => {
        await started.stop();
        await platform.stop();
      },
    };
  } catch (error) {
    await publisher?.stop();
    await platform.stop();
    throw error;
  }
}

/** Reads a transcoder log event's time (epoch ms) from the platform's log lines, by its event name. */
export function findTranscoderLogTime(platform: Platform, eventName: string): number | null {
  for (const line of platform.logs) {
    if (!line.startsWith('[transcoder] {')) continue;
    try {
      const event: unknown = JSON.parse(line.slice('[transcoder] '.length));
      if (
        typeof event === 'object' &&
        event !== null &&
        'event' in event &&
        event.event === eventName &&
        'time' in event &&
        typeof event.time === 'string'
      ) {
        return Date.parse(event.time);
      }
    } catch {
      // Not a JSON log line (ffmpeg's own output, a stack trace): not an event.
    }
  }
  return null;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
