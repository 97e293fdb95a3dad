// `/overlay/engagement/{channel}`: the channel's current poll and prediction for an OBS browser
// source (docs/engagement.md), embeddable like the chat overlay (web/public/_headers, /overlay/*).
// The API gives the state on load; chat's poll and prediction frames keep it live. A poll or
// prediction that ended more than a minute ago leaves the screen.
import { useEffect, useState } from 'react';
import { useParams } from 'react-router';
import { api, readApi } from '../api/client.ts';
import { useApi } from '../api/use-api.ts';
import { useChat } from '../chat/use-chat.ts';
import { PollCard, PredictionCard, pickLatest } from './engagement-views.tsx';

const LINGER_MS = 60_000;

export function OverlayEngagementPage() {
  const name = useParams().channel ?? '';
  const channel = useApi(`/channels/${name}`, (options) =>
    readApi(api.channels[':id'].$get({ param: { id: encodeURIComponent(name) } }, options)),
  );
  const channelId = channel.data?.id ?? null;
  const overview = useApi(channelId ? `/channels/${channelId}/engagement` : null, (options) =>
    readApi(
      api.channels[':id'].engagement.$get({ param: { id: encodeURIComponent(channelId ?? '') } }, options),
    ),
  );
  const { state } = useChat(channelId, channel.data?.chat_websocket ?? null);
  const [now, setNow] = useState(Date.now());

  useEffect(() => {
    document.documentElement.classList.add('overlay-mode');
    const timer = setInterval(() => setNow(Date.now()), 10_000);
    return () => {
      document.documentElement.classList.remove('overlay-mode');
      clearInterval(timer);
    };
  }, []);

  const poll = pickLatest(overview.data?.poll, state.poll);
  const prediction = pickLatest(overview.data?.prediction, state.prediction);
  const recent = (endedAt: string | null) => endedAt === null || now - Date.parse(endedAt) < LINGER_MS;
  return (
    <div className="overlay-engagement">
      {poll && recent(poll.ended_at) ? <PollCard poll={poll} /> : null}
      {prediction && recent(prediction.ended_at) ? <PredictionCard prediction={prediction} /> : null}
    </div>
  );
}
