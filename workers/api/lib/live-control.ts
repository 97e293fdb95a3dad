// The part of the LiveStream Durable Object's RPC surface the API calls. The origin engineer owns
// the class; this narrow interface is what the API depends on.

export interface LiveStreamControl {
  /** Cuts off the channel's current publisher (its later ingest calls get 409). */
  revokePublisher(): Promise<boolean>;
}

/** Cuts off whoever is publishing on the channel; false when nobody was. */
export async function revokeLivePublisher(env: Env, channelId: string): Promise<boolean> {
  const control: LiveStreamControl = env.LIVE_STREAM.getByName(channelId);
  return control.revokePublisher();
}
