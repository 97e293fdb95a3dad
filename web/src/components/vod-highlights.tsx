// A VOD's highlights on its page: the saved ranges (kept when the VOD expires, docs/retention.md),
// each playable in the page's player from its own URL, and for the channel owner a form that saves
// the range around the playhead (POST /vods/{id}/highlights; the API validates the range and
// widens it to whole segments, and its refusals are shown as they are).
import { type FormEvent, useState } from 'react';
import { MAX_TITLE_LENGTH } from '../../../protocol/limits.ts';
import { api, describeError, readApi } from '../api/client.ts';
import { useApi } from '../api/use-api.ts';
import { useAuth } from '../auth/auth-context.tsx';
import { formatDuration } from './format.ts';

export interface PlayingHighlight {
  id: string;
  url: string;
  startSeconds: number;
}

interface Props {
  vodId: string;
  channelId: string;
  time: number;
  playing: PlayingHighlight | null;
  onPlay: (highlight: PlayingHighlight | null) => void;
}

export function VodHighlights({ vodId, channelId, time, playing, onPlay }: Props) {
  const { channel } = useAuth();
  const highlights = useApi(`/channels/${channelId}/highlights`, (options) =>
    readApi(api.channels[':id'].highlights.$get({ param: { id: encodeURIComponent(channelId) } }, options)),
  );
  const mine = (highlights.data?.data ?? []).filter((h) => h.vod_id === vodId);
  const isOwner = channel?.id === channelId;
  if (!isOwner && mine.length === 0) return null;
  return (
    <section className="vod-highlights" aria-labelledby="highlights-heading">
      <h2 id="highlights-heading">Highlights</h2>
      {mine.length > 0 ? (
        <ul>
          {mine.map((h) => (
            <li key={h.id} className="vod-highlight" data-highlight-id={h.id}>
              <button
                type="button"
                aria-pressed={playing?.id === h.id}
                onClick={() =>
                  onPlay(
                    playing?.id === h.id
                      ? null
                      : { id: h.id, url: h.playback_url, startSeconds: h.start_seconds },
                  )
                }
              >
                {playing?.id === h.id ? 'Back to the full video' : `Play ${h.title}`}
              </button>
              <span className="vod-chapter-time">
                {formatDuration(h.start_seconds)}–{formatDuration(h.start_seconds + h.duration_seconds)}
              </span>
            </li>
          ))}
        </ul>
      ) : null}
      {isOwner && playing === null ? (
        <SaveHighlightForm vodId={vodId} time={time} onSaved={highlights.reload} />
      ) : null}
    </section>
  );
}

function SaveHighlightForm({ vodId, time, onSaved }: { vodId: string; time: number; onSaved: () => void }) {
  const [title, setTitle] = useState('');
  const [start, setStart] = useState('');
  const [end, setEnd] = useState('');
  const [status, setStatus] = useState('');
  const submit = (event: FormEvent) => {
    event.preventDefault();
    // Empty fields take the 30 s from the playhead.
    const startSeconds = start === '' ? Math.floor(time) : Number(start);
    const endSeconds = end === '' ? startSeconds + 30 : Number(end);
    setStatus('Saving…');
    readApi(
      api.vods[':id'].highlights.$post({
        param: { id: encodeURIComponent(vodId) },
        json: { title: title.trim(), start_seconds: startSeconds, end_seconds: endSeconds },
      }),
    ).then(
      (saved) => {
        setStatus(`Saved “${saved.title}”.`);
        setTitle('');
        onSaved();
      },
      (error: unknown) => setStatus(describeError(error)),
    );
  };
  return (
    <form className="highlight-form" onSubmit={submit}>
      <label>
        Highlight title
        <input
          value={title}
          maxLength={MAX_TITLE_LENGTH}
          required
          onChange={(e) => setTitle(e.target.value)}
        />
      </label>
      <label>
        From (seconds)
        <input
          type="number"
          min={0}
          step="any"
          placeholder={String(Math.floor(time))}
          value={start}
          onChange={(e) => setStart(e.target.value)}
        />
      </label>
      <label>
        To (seconds)
        <input
          type="number"
          min={0}
          step="any"
          placeholder={String(Math.floor(time) + 30)}
          value={end}
          onChange={(e) => setEnd(e.target.value)}
        />
      </label>
      <button type="submit" className="button-primary">
        Save highlight
      </button>
      <p role="status">{status}</p>
    </form>
  );
}
