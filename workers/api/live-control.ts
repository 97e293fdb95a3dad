// The part of the LiveStream Durable Object's RPC surface the API calls. The origin engineer owns
// the class; this narrow interface is what the API depends on.
import { LiveStream } from '../../durable-objects/live-stream.ts';

export interface LiveStreamControl {
  /** Cuts off the channel's current publisher (its later ingest calls get 409). */
  revokePublisher(): Promise<boolean>;
}

/**
 * A stub forwards any method name, so whether revokePublisher can be called depends on the class.
 * While the class lacks it (the origin side is being written in parallel), this is false and the
 * reset only changes the key, which already stops new publishes.
 */
function isLiveStreamControl(stub: object): stub is LiveStreamControl {
  return typeof Reflect.get(LiveStream.prototype, 'revokePublisher') === 'function';
}

/** Cuts off whoever is publishing on the channel; false when nobody was or revoking is unsupported. */
export async function revokeLivePublisher(env: Env, channelId: string): Promise<boolean> {
  const stub = env.LIVE_STREAM.getByName(channelId);
  if (!isLiveStreamControl(stub)) {
    console.warn(JSON.stringify({ level: 'warn', msg: 'LiveStream.revokePublisher is missing', channelId }));
    return false;
  }
  return stub.revokePublisher();
}
