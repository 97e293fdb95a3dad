// `/videos/{vod_id}`: a past broadcast with its chapters (seekable), its view count (one view counted
// when it first plays) and its chat replayed in sync. Chat is fetched in windows of
// REPLAY_WINDOW_SECONDS ahead of the playhead, following the API's next_from through every page of
// a busy window; a seek outside the loaded span starts over there.
import { useCallback, useEffect, useRef, useState } from 'react';
import { Link, useParams } from 'react-router';
import { api, readApi } from '../api/client.ts';
import type { ReplayMessage } from '../api/types.ts';
import { useApi } from '../api/use-api.ts';
import { ChatList } from '../chat/chat-list.tsx';
import type { ChatLine } from '../chat/chat-state.ts';
import { collectReplayWindow } from '../chat/replay-pages.ts';
import { formatCount, formatDate, formatDuration } from '../components/format.ts';
import { ErrorMessage, LoadingMessage } from '../components/status-message.tsx';
import { type PlayingHighlight, VodHighlights } from '../components/vod-highlights.tsx';
import { HlsPlayer } from '../player/hls-player.tsx';

const REPLAY_WINDOW_SECONDS = 30;
// Fetch the next window this long before the playhead reaches the end of the loaded one.
const PREFETCH_SECONDS = 5;
/** Pages of one window followed at once; a busier window continues on the next load. */
const MAX_REPLAY_PAGES = 20;

export function VodPage() {
  const vodId = useParams().vodId ?? '';
  const vod = useApi(`/vods/${vodId}`, (options) =>
    readApi(api.vods[':id'].$get({ param: { id: encodeURIComponent(vodId) } }, options)),
  );
  const [time, setTime] = useState(0);
  const [seekRequest, setSeekRequest] = useState<{ seconds: number; id: number } | undefined>(undefined);
  const [highlight, setHighlight] = useState<PlayingHighlight | null>(null);
  // A highlight plays from its own start: the replay and chapters stay on the VOD's clock.
  const vodTime = time + (highlight?.startSeconds ?? 0);
  const replay = useChatReplay(vodId, vodTime);
  useVodView(vodId, time > 0);

  if (vod.error) return <ErrorMessage error={vod.error} />;
  if (!vod.data) return <LoadingMessage />;
  return (
    <div className="watch">
      <div className="watch-main">
        <div className="player-frame">
          <HlsPlayer
            key={highlight?.id ?? 'vod'}
            src={highlight?.url ?? vod.data.playback_url}
            live={false}
            onTime={setTime}
            seekRequest={highlight ? undefined : seekRequest}
          />
        </div>
        <div className="stream-info">
          <div className="stream-info-text">
            <h1 className="channel-name">{vod.data.title || 'Past broadcast'}</h1>
            <p className="stream-sub">
              {formatDate(vod.data.created_at)}
              <span className="vod-views">{formatCount(vod.data.view_count)} views</span>
              {vod.data.channel_id ? <Link to={`/${vod.data.channel_id}`}>Channel</Link> : null}
            </p>
          </div>
        </div>
        <VodHighlights
          vodId={vod.data.id}
          channelId={vod.data.channel_id}
          time={vodTime}
          playing={highlight}
          onPlay={(next) => {
            setHighlight(next);
            setTime(0);
          }}
        />
        {vod.data.chapters.length > 0 ? (
          <nav className="vod-chapters" aria-label="Chapters">
            <h2>Chapters</h2>
            <ol>
              {vod.data.chapters.map((chapter) => {
                const current =
                  vodTime >= chapter.start_seconds &&
                  vodTime < chapter.start_seconds + chapter.duration_seconds;
                return (
                  <li key={chapter.start_seconds}>
                    <button
                      type="button"
                      className={current ? 'vod-chapter current' : 'vod-chapter'}
                      aria-current={current ? 'true' : undefined}
                      onClick={() => {
                        setHighlight(null);
                        setSeekRequest((previous) => ({
                          seconds: chapter.start_seconds,
                          id: (previous?.id ?? 0) + 1,
                        }));
                      }}
                    >
                      <span className="vod-chapter-time">{formatDuration(chapter.start_seconds)}</span>
                      <span>{chapter.category?.name ?? 'No category'}</span>
                      <span className="vod-chapter-length">{formatDuration(chapter.duration_seconds)}</span>
                    </button>
                  </li>
                );
              })}
            </ol>
          </nav>
        ) : null}
      </div>
      <aside className="watch-chat">
        <section className="chat-panel" aria-label="Chat replay">
          <header className="chat-header">
            <h2>Chat replay</h2>
          </header>
          <ChatList lines={replay} />
        </section>
      </aside>
    </div>
  );
}

/** Every message of [from, to), following next_from through the window's pages (chat/replay-pages.ts). */
function fetchReplayWindow(vodId: string, from: number, to: number) {
  return collectReplayWindow(
    from,
    to,
    (pageFrom, pageTo) =>
      readApi(
        api.vods[':id'].chat.$get({
          param: { id: encodeURIComponent(vodId) },
          query: { from: String(pageFrom), to: String(pageTo) },
        }),
      ),
    MAX_REPLAY_PAGES,
  );
}

/** The replayed chat lines up to `time` seconds into the VOD. */
function useChatReplay(vodId: string, time: number): ChatLine[] {
  const [messages, setMessages] = useState<ReplayMessage[]>([]);
  const loadedRef = useRef({ from: 0, to: 0 });
  const inFlightRef = useRef(false);

  const loadWindow = useCallback(
    (from: number, reset: boolean) => {
      if (inFlightRef.current) return;
      inFlightRef.current = true;
      const start = Math.floor(from);
      const to = start + REPLAY_WINDOW_SECONDS;
      fetchReplayWindow(vodId, start, to).then(
        (window) => {
          inFlightRef.current = false;
          loadedRef.current = { from: reset ? start : loadedRef.current.from, to: window.loadedTo };
          setMessages((current) => mergeMessages(reset ? [] : current, window.messages));
        },
        () => {
          // Replay is an extra: without it the video still plays. Mark the window as covered so the
          // page does not hammer a missing endpoint, and move on.
          inFlightRef.current = false;
          loadedRef.current = { from: reset ? start : loadedRef.current.from, to };
        },
      );
    },
    [vodId],
  );

  useEffect(() => {
    const loaded = loadedRef.current;
    if (time < loaded.from || time > loaded.to + REPLAY_WINDOW_SECONDS) {
      loadWindow(Math.max(0, time - 1), true);
    } else if (time > loaded.to - PREFETCH_SECONDS || loaded.to === 0) {
      loadWindow(loaded.to, false);
    }
  }, [time, loadWindow]);

  return messages
    .filter((message) => message.offset_seconds <= time)
    .slice(-150)
    .map((message) => ({
      id: message.id,
      user: message.user,
      content: message.content,
      emotes: message.emotes ?? [],
    }));
}

/** Counts one view when the video first plays (the API counts a viewer once per VOD in its window). */
function useVodView(vodId: string, playing: boolean): void {
  const countedRef = useRef<string | null>(null);
  useEffect(() => {
    if (!playing || countedRef.current === vodId) return;
    countedRef.current = vodId;
    readApi(api.vods[':id'].views.$post({ param: { id: encodeURIComponent(vodId) } })).then(
      () => undefined,
      // A view not counted changes nothing for the viewer.
      () => undefined,
    );
  }, [vodId, playing]);
}

function mergeMessages(current: ReplayMessage[], added: ReplayMessage[]): ReplayMessage[] {
  const known = new Set(current.map((message) => message.id));
  return current
    .concat(added.filter((message) => !known.has(message.id)))
    .sort((a, b) => a.offset_seconds - b.offset_seconds);
}
