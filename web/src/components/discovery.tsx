// Discovery in the web app: the "Recommended for you" grid on the home page (each card with the
// reason the API gives: "Because you follow X", "Popular in Music", "Popular now") and the similar
// channels list on the watch page. Both read bounded API answers (GET /recommendations,
// GET /channels/{id}/similar; docs/api.md, "Discovery").
import { Link } from 'react-router';
import { api, readApi } from '../api/client.ts';
import { useApi } from '../api/use-api.ts';
import { useAuth } from '../auth/auth-context.tsx';
import { ErrorMessage } from './status-message.tsx';
import { StreamCard } from './stream-card.tsx';

const RECOMMENDATIONS_SHOWN = 8;

export function RecommendedStreams() {
  const { user } = useAuth();
  // Keyed by the user: signing in or out asks again, and a follow elsewhere shows on the next visit.
  const recommendations = useApi(`/recommendations?user=${user?.id ?? ''}`, (options) =>
    readApi(api.recommendations.$get({ query: { limit: String(RECOMMENDATIONS_SHOWN) } }, options)),
  );
  const items = recommendations.data?.data ?? [];
  if (recommendations.error) return <ErrorMessage error={recommendations.error} />;
  if (items.length === 0) return null;
  return (
    <section aria-labelledby="recommended-heading" className="recommended">
      <h2 id="recommended-heading">{user ? 'Recommended for you' : 'Popular now'}</h2>
      <div className="stream-grid">
        {items.map((item) => (
          <div key={item.stream.stream_id} className="recommended-card" data-reason-kind={item.reason.kind}>
            <StreamCard stream={item.stream} recommended />
            <p className="recommendation-reason">{item.reason.text}</p>
          </div>
        ))}
      </div>
    </section>
  );
}

export function SimilarChannels({ channelId }: { channelId: string }) {
  const similar = useApi(`/channels/${channelId}/similar`, (options) =>
    readApi(
      api.channels[':id'].similar.$get(
        { param: { id: encodeURIComponent(channelId) }, query: { limit: '8' } },
        options,
      ),
    ),
  );
  const items = similar.data?.data ?? [];
  if (items.length === 0) return null;
  return (
    <section className="similar-channels" aria-labelledby="similar-heading">
      <h2 id="similar-heading">Similar channels</h2>
      <ul className="channel-list">
        {items.map(({ channel, reason }) => (
          <li key={channel.id}>
            <Link to={`/${channel.name}`} className="channel-link">
              {channel.display_name || channel.name}
              {channel.is_live ? <span className="live-dot">LIVE</span> : null}
            </Link>
            <span className="recommendation-reason">{reason.text}</span>
          </li>
        ))}
      </ul>
    </section>
  );
}
