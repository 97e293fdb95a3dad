// `/clip/{clip_id}`: plays a clip once it is ready (polling while the clip job runs) and offers
// the share URL.
import { useEffect, useState } from 'react';
import { Link, useParams } from 'react-router';
import { api, describeError, readApi } from '../api/client.ts';
import type { Clip } from '../api/types.ts';
import { formatCount, formatDate } from '../components/format.ts';
import { ErrorMessage, LoadingMessage } from '../components/status-message.tsx';

const POLL_MS = 2000;
// A clip job cuts 30 s from parts already in R2; if it is not done in five minutes it will not be.
const MAX_POLLS = 150;
// The clip job's states before the file exists; the API names the first one `processing`.
const WAITING_STATUSES = new Set(['processing', 'pending', 'queued']);
const FAILED_STATUSES = new Set(['failed', 'error']);

export function ClipPage() {
  const clipId = useParams().clipId ?? '';
  const [clip, setClip] = useState<Clip | null>(null);
  const [error, setError] = useState<unknown>(undefined);
  const [copied, setCopied] = useState(false);

  useEffect(() => {
    let polls = 0;
    let timer = 0;
    let stopped = false;
    const poll = () => {
      polls += 1;
      readApi(api.clips[':id'].$get({ param: { id: encodeURIComponent(clipId) } })).then(
        (next) => {
          if (stopped) return;
          setClip(next);
          setError(undefined);
          if (WAITING_STATUSES.has(next.status) && polls < MAX_POLLS)
            timer = window.setTimeout(poll, POLL_MS);
        },
        (failure: unknown) => {
          if (!stopped) setError(failure);
        },
      );
    };
    poll();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
    };
  }, [clipId]);

  if (error && !clip) return <ErrorMessage error={error} />;
  if (!clip) return <LoadingMessage />;
  const shareUrl = window.location.href;

  const copy = () => {
    navigator.clipboard.writeText(shareUrl).then(
      () => setCopied(true),
      () => setCopied(false),
    );
  };

  return (
    <section className="clip-page" aria-labelledby="clip-title">
      <div className="player-frame">
        {clip.url && !WAITING_STATUSES.has(clip.status) && !FAILED_STATUSES.has(clip.status) ? (
          // biome-ignore lint/a11y/useMediaCaption: clips carry no caption track.
          <video className="player-video" src={clip.url} controls autoPlay playsInline />
        ) : WAITING_STATUSES.has(clip.status) ? (
          <div className="player-placeholder" role="status">
            <span className="spinner" aria-hidden="true" /> Making your clip…
          </div>
        ) : (
          <div className="player-placeholder" role="alert">
            This clip could not be made ({clip.status}).
          </div>
        )}
      </div>
      <h1 id="clip-title">{clip.title || 'Clip'}</h1>
      <p className="stream-sub">
        {clip.channel ? (
          <Link to={`/${clip.channel.name}`}>{clip.channel.display_name ?? clip.channel.name}</Link>
        ) : null}
        {clip.view_count !== null && clip.view_count !== undefined ? (
          <span>{formatCount(clip.view_count)} views</span>
        ) : null}
        <span>{formatDate(clip.created_at)}</span>
      </p>
      <div className="share">
        <label htmlFor="share-url">Share</label>
        <input id="share-url" readOnly value={shareUrl} onFocus={(event) => event.currentTarget.select()} />
        <button type="button" className="button-secondary" onClick={copy}>
          {copied ? 'Copied' : 'Copy link'}
        </button>
      </div>
      {error ? <p className="error-message">{describeError(error)}</p> : null}
    </section>
  );
}
