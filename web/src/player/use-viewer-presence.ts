// The player's presence signal: while a live video plays, POST /channels/{id}/presence now and then
// every heartbeat_ms the API answers (20 s), so the viewer is counted whether chat is open or not
// (durable-objects/chat-room/video-presence.ts). A paused or ended video stops signalling and drops
// out of the count within 45 s. Each tab keeps one random viewer id for its session.
import { useEffect } from 'react';
import { api, readApi } from '../api/client.ts';

const VIEWER_ID_KEY = 'edgestream.viewer-id';
/** Used until the API names its interval, and after a refused or failed signal. */
const DEFAULT_HEARTBEAT_MS = 20_000;

function readViewerId(): string {
  const stored = sessionStorage.getItem(VIEWER_ID_KEY);
  if (stored !== null && /^[A-Za-z0-9_-]{16,64}$/.test(stored)) return stored;
  const id = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) =>
    b.toString(16).padStart(2, '0'),
  ).join('');
  sessionStorage.setItem(VIEWER_ID_KEY, id);
  return id;
}

export function useViewerPresence(channelId: string | null, playing: boolean): void {
  useEffect(() => {
    if (channelId === null || !playing) return;
    const viewerId = readViewerId();
    let timer = 0;
    let stopped = false;
    const send = async () => {
      let next = DEFAULT_HEARTBEAT_MS;
      try {
        const answer = await readApi(
          api.channels[':id'].presence.$post({ param: { id: channelId }, json: { viewer_id: viewerId } }),
        );
        next = answer.heartbeat_ms;
      } catch {
        // Refused (this network's seats are taken, the stream ended) or offline: try at the next beat.
      }
      if (!stopped) timer = window.setTimeout(() => void send(), next);
    };
    void send();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
    };
  }, [channelId, playing]);
}
