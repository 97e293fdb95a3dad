// A live stream in a grid: thumbnail with the viewer count, title, channel and category.
import { Link } from 'react-router';
import type { LiveStream } from '../api/types.ts';
import { formatCount } from './format.ts';

/**
 * `recommended`: a card of the "Recommended for you" grid, which repeats streams the "Live now"
 * grid lists; it is marked apart so one stream has one `data-stream-id` on the page.
 */
export function StreamCard({ stream, recommended = false }: { stream: LiveStream; recommended?: boolean }) {
  const channelName = stream.channel.display_name || stream.channel.name;
  const category = stream.category;
  const marker = recommended
    ? { 'data-recommended-stream-id': stream.stream_id }
    : { 'data-stream-id': stream.stream_id };
  return (
    <article className="stream-card" {...marker}>
      <Link to={`/${stream.channel.name}`} className="stream-thumb" aria-label={`Watch ${channelName}`}>
        {stream.thumbnail_url ? (
          <img src={stream.thumbnail_url} alt="" loading="lazy" />
        ) : (
          <span className="thumb-placeholder" aria-hidden="true" />
        )}
        <span className="live-badge">LIVE</span>
        <span className="viewer-badge">{formatCount(stream.viewer_count)} viewers</span>
      </Link>
      <div className="stream-meta">
        <Link to={`/${stream.channel.name}`} className="stream-title" title={stream.title}>
          {stream.title || 'Untitled stream'}
        </Link>
        <Link to={`/${stream.channel.name}`} className="stream-channel">
          {channelName}
        </Link>
        {category ? (
          <Link to={`/directory/${encodeURIComponent(category.slug)}`} className="stream-category">
            {category.name}
          </Link>
        ) : null}
      </div>
    </article>
  );
}

export function StreamGrid({ streams, empty }: { streams: LiveStream[]; empty: string }) {
  if (streams.length === 0) return <p className="empty">{empty}</p>;
  return (
    <div className="stream-grid">
      {streams.map((stream) => (
        <StreamCard key={stream.stream_id} stream={stream} />
      ))}
    </div>
  );
}
