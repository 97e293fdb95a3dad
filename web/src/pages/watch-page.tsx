// `/{channel}`: the watch page. Playback starts before anything else loads: the live endpoint is
// asked by channel name at once (one round trip when the API accepts names), with the channel
// lookup in parallel as the fallback that yields the id; chat and channel details fill in around
// the already-playing video.
import { lazy, Suspense, useCallback, useEffect, useState } from 'react';
import { Link, useLocation, useNavigate, useParams } from 'react-router';
import type { RaidFrame } from '../../../protocol/chat.ts';
import type { PollView, PredictionView } from '../../../protocol/engagement.ts';
import { MAX_TITLE_LENGTH } from '../../../protocol/limits.ts';
import { api, describeError, isAbort, isNotFound, readApi } from '../api/client.ts';
import type { Channel, LiveStream, WatchableStream } from '../api/types.ts';
import { useApi } from '../api/use-api.ts';
import { useAuth } from '../auth/auth-context.tsx';
import { SimilarChannels } from '../components/discovery.tsx';
import { formatCount, formatDuration } from '../components/format.ts';
import { BellIcon, ScissorsIcon } from '../components/icons.tsx';
import { ErrorMessage } from '../components/status-message.tsx';
import { HlsPlayer } from '../player/hls-player.tsx';
import { loadHls } from '../player/load-hls.ts';
import { useViewerPresence } from '../player/use-viewer-presence.ts';
import { ChannelSchedule } from './channel-schedule.tsx';
import { ChannelSupport } from './channel-support.tsx';

// Live metadata (title, viewers) refreshes slowly; an offline channel is re-checked faster so a
// viewer waiting on the page sees the stream start.
const LIVE_REFRESH_MS = 30_000;
const OFFLINE_REFRESH_MS = 10_000;
// "The watch page starts playback without waiting for chat": chat (socket, frame schemas, list) is
// its own chunk, fetched while the player starts, so it never adds to the first download.
const ChatPanel = lazy(() =>
  import('../chat/chat-panel.tsx').then((module) => ({ default: module.ChatPanel })),
);
// The channel-points panel (docs/engagement.md) likewise loads beside the player, never before it.
const ChannelEngagement = lazy(() =>
  import('./channel-engagement.tsx').then((module) => ({ default: module.ChannelEngagement })),
);

/**
 * Keyed by the channel name: `/{a}` → `/{b}` (a raid, a link) is the same route, so React would
 * keep every piece of state of channel a (its error, its stream, the follow button's answer).
 * A new key gives channel b a fresh page.
 */
export function WatchPage() {
  const name = useParams().channel ?? '';
  return <ChannelWatchPage key={name} name={name} />;
}

function ChannelWatchPage({ name }: { name: string }) {
  const navigate = useNavigate();
  const raidedFrom = readRaidOrigin(useLocation().state);
  const [live, setLive] = useState<WatchableStream | null | undefined>(undefined);
  const [channel, setChannel] = useState<Channel | null>(null);
  const [channelError, setChannelError] = useState<unknown>(undefined);
  const [viewerCount, setViewerCount] = useState<number | null>(null);
  const [refresh, setRefresh] = useState(0);
  // Bumped when the player gives up, so a stream still live by the API gets a fresh player.
  const [playerGeneration, setPlayerGeneration] = useState(0);
  const [playing, setPlaying] = useState(false);
  const [livePoll, setLivePoll] = useState<PollView | null>(null);
  const [livePrediction, setLivePrediction] = useState<PredictionView | null>(null);
  const onEngagement = useCallback((poll: PollView | null, prediction: PredictionView | null) => {
    setLivePoll(poll);
    setLivePrediction(prediction);
  }, []);

  // Fetch the player code alongside the API lookups, not after them. A failure here resurfaces in
  // the player, which asks again and reports it.
  useEffect(() => {
    loadHls().then(
      () => undefined,
      () => undefined,
    );
  }, []);

  // biome-ignore lint/correctness/useExhaustiveDependencies: `refresh` re-runs the live lookup.
  useEffect(() => {
    const controller = new AbortController();
    const { signal } = controller;
    const channelRequest = readApi(
      api.channels[':id'].$get({ param: { id: encodeURIComponent(name) } }, { init: { signal } }),
    );
    channelRequest.then(setChannel, (error: unknown) => {
      if (!isAbort(error)) setChannelError(error);
    });
    findLiveStream(name, channelRequest, signal).then(
      (stream) => {
        setLive(stream);
        if (stream) setViewerCount(stream.viewer_count);
      },
      (error: unknown) => {
        // A failed refresh keeps what is showing; only a first load that fails shows offline.
        if (!isAbort(error)) setLive((current) => (current === undefined ? null : current));
      },
    );
    return () => controller.abort();
  }, [name, refresh]);

  useEffect(() => {
    if (live === undefined) return;
    const timer = window.setTimeout(
      () => setRefresh((n) => n + 1),
      live ? LIVE_REFRESH_MS : OFFLINE_REFRESH_MS,
    );
    return () => window.clearTimeout(timer);
  }, [live]);

  const onRaid = useCallback(
    (frame: RaidFrame) =>
      navigate(`/${frame.to_channel.name}`, { state: { raidedFrom: frame.from_channel } }),
    [navigate],
  );
  const onStreamEnded = useCallback(() => {
    setPlayerGeneration((n) => n + 1);
    setRefresh((n) => n + 1);
  }, []);

  const channelId = live?.channel.id ?? channel?.id ?? null;
  // Counted as a viewer while the live video plays, chat open or not.
  useViewerPresence(live ? live.channel.id : null, playing);
  const socketPath = live?.chat_websocket ?? channel?.chat_websocket ?? null;
  const displayName = live?.channel.display_name || channel?.display_name || channel?.name || name;
  const title = live?.title ?? channel?.title ?? '';
  const category = live?.category ?? channel?.category ?? null;

  if (channelError && isNotFound(channelError) && live === null) {
    return (
      <section className="not-found">
        <h1>Channel not found</h1>
        <p>There is no channel called “{name}”.</p>
        <Link to="/">Browse live channels</Link>
      </section>
    );
  }

  return (
    <div className="watch">
      <div className="watch-main">
        {raidedFrom ? <p className="raid-banner">Raided from {raidedFrom}</p> : null}
        <div className="player-frame">
          {live ? (
            <HlsPlayer
              key={`${live.stream_id}-${playerGeneration}`}
              src={live.manifest_url}
              live
              whepUrl={live.whep_url}
              onEnded={onStreamEnded}
              onPlayingChange={setPlaying}
            />
          ) : live === null ? (
            <OfflineScreen channelId={channel?.id ?? null} name={displayName} />
          ) : (
            <div className="player-placeholder" role="status">
              Loading stream…
            </div>
          )}
        </div>
        <div className="stream-info">
          <div className="stream-info-text">
            <h1 className="channel-name">
              {displayName}
              {live ? <span className="live-dot">LIVE</span> : null}
            </h1>
            {title ? <p className="stream-title-line">{title}</p> : null}
            <p className="stream-sub">
              {category ? (
                <Link to={`/directory/${encodeURIComponent(category.slug)}`}>{category.name}</Link>
              ) : null}
              {live ? (
                <span className="viewer-count" data-viewers={viewerCount ?? live.viewer_count}>
                  {formatCount(viewerCount ?? live.viewer_count)} watching
                </span>
              ) : null}
              {channel ? <span>{formatCount(channel.follower_count)} followers</span> : null}
            </p>
            {(live?.tags ?? channel?.tags)?.length ? (
              <ul className="tag-list" aria-label="Tags">
                {(live?.tags ?? channel?.tags ?? []).map((tag) => (
                  <li key={tag}>{tag}</li>
                ))}
              </ul>
            ) : null}
          </div>
          <div className="stream-actions">
            {/* Keyed by id: the follow state belongs to one channel. */}
            {channel ? <FollowButton key={channel.id} channel={channel} /> : null}
            {channel ? <ChannelSupport key={`support-${channel.id}`} channel={channel} /> : null}
            {live ? <ClipButton stream={live} /> : null}
          </div>
        </div>
        {channel ? (
          <Suspense fallback={null}>
            <ChannelEngagement
              key={`engagement-${channel.id}`}
              channelId={channel.id}
              livePoll={livePoll}
              livePrediction={livePrediction}
            />
          </Suspense>
        ) : null}
        {channel ? <ChannelSchedule key={`schedule-${channel.id}`} channelId={channel.id} /> : null}
        {channel ? <SimilarChannels key={`similar-${channel.id}`} channelId={channel.id} /> : null}
      </div>
      <aside className="watch-chat">
        <Suspense
          fallback={
            <section className="chat-panel" aria-label="Chat">
              <p className="chat-status">Loading chat…</p>
            </section>
          }
        >
          <ChatPanel
            channelId={channelId}
            socketPath={socketPath}
            onRaid={onRaid}
            onViewerCount={setViewerCount}
            onEngagement={onEngagement}
          />
        </Suspense>
      </aside>
    </div>
  );
}

/** The live stream of a channel, or null when it is offline. */
async function findLiveStream(
  name: string,
  channelRequest: Promise<Channel>,
  signal: AbortSignal,
): Promise<WatchableStream | null> {
  // Any refusal of the name (404, or 400 when only ids are accepted) falls through to the id.
  const byName = await requestLive(name, signal).catch((error: unknown) => {
    if (isAbort(error)) throw error;
    return null;
  });
  if (byName) return byName;
  const channel = await channelRequest.catch((error: unknown) => {
    if (isAbort(error)) throw error;
    return null;
  });
  if (channel === null || channel.id === name || channel.is_live === false) return null;
  return requestLive(channel.id, signal);
}

async function requestLive(channel: string, signal: AbortSignal): Promise<WatchableStream | null> {
  try {
    return await readApi(
      api.streams[':channel_id'].live.$get(
        { param: { channel_id: encodeURIComponent(channel) } },
        { init: { signal } },
      ),
    );
  } catch (error) {
    // 404 is the API's answer for "offline"; anything else is a failure to report.
    if (isNotFound(error)) return null;
    throw error;
  }
}

function readRaidOrigin(state: unknown): string | null {
  if (typeof state !== 'object' || state === null || !('raidedFrom' in state)) return null;
  return typeof state.raidedFrom === 'string' ? state.raidedFrom : null;
}

function OfflineScreen({ channelId, name }: { channelId: string | null; name: string }) {
  const param = { id: encodeURIComponent(channelId ?? '') };
  const vods = useApi(channelId ? `/channels/${channelId}/vods` : null, (options) =>
    readApi(api.channels[':id'].vods.$get({ param, query: { limit: '1' } }, options)),
  );
  // Auto-host: the first live channel of this channel's host list plays here while it is offline.
  const hosting = useApi(channelId ? `/channels/${channelId}/hosting` : null, (options) =>
    readApi(api.channels[':id'].hosting.$get({ param }, options)),
  );
  const hosted = hosting.data?.hosting ?? null;
  const last = vods.data?.data[0];
  if (hosted) {
    return (
      <div className="hosting-screen">
        <p className="hosting-banner">
          {name} is hosting <Link to={`/${hosted.channel.name}`}>{hosted.channel.display_name}</Link>
          {hosted.title ? `: ${hosted.title}` : ''}
        </p>
        <HlsPlayer key={hosted.stream_id} src={hosted.manifest_url} live muted />
      </div>
    );
  }
  return (
    <div className="offline-screen">
      <p className="offline-title">{name} is offline.</p>
      {last ? (
        <Link to={`/videos/${last.id}`} className="offline-vod">
          {last.thumbnail_url ? <img src={last.thumbnail_url} alt="" /> : null}
          <span>
            Watch the last broadcast: {last.title || 'Past broadcast'}
            {last.duration_seconds ? ` (${formatDuration(last.duration_seconds)})` : ''}
          </span>
        </Link>
      ) : null}
    </div>
  );
}

function FollowButton({ channel }: { channel: Channel }) {
  const { user, channel: ownChannel } = useAuth();
  const follows = useApi(user ? '/users/me/follows' : null, (options) =>
    readApi(api.users.me.follows.$get({}, options)),
  );
  const [following, setFollowing] = useState<boolean | null>(null);
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const navigate = useNavigate();

  const listedFollow = (follows.data?.data ?? []).find((item) => item.channel.id === channel.id);
  const isFollowing = following ?? listedFollow !== undefined;
  if (ownChannel?.id === channel.id || user?.username === channel.name) return null;

  const toggle = () => {
    if (!user) {
      void navigate('/login');
      return;
    }
    setBusy(true);
    const follow = { param: { id: encodeURIComponent(channel.id) } };
    const request = isFollowing
      ? readApi(api.channels[':id'].follow.$delete(follow))
      : readApi(api.channels[':id'].follow.$post(follow));
    request.then(
      () => {
        setFollowing(!isFollowing);
        setError(undefined);
        setBusy(false);
      },
      (failure: unknown) => {
        setError(failure);
        setBusy(false);
      },
    );
  };

  return (
    <div className="action">
      <button
        type="button"
        className={isFollowing ? 'button-secondary' : 'button-primary'}
        aria-pressed={isFollowing}
        disabled={busy}
        onClick={toggle}
      >
        {isFollowing ? 'Unfollow' : 'Follow'}
      </button>
      {isFollowing ? (
        // Keyed by the listed setting: a reload of the follow list starts it from the server's answer.
        <FollowNotificationsButton
          key={String(listedFollow?.notifications ?? true)}
          channelId={channel.id}
          initial={listedFollow?.notifications ?? true}
        />
      ) : null}
      {error ? <ErrorMessage error={error} /> : null}
    </div>
  );
}

/** "Went live" notifications from this channel (in-app and push), on or off for this follower. */
function FollowNotificationsButton({ channelId, initial }: { channelId: string; initial: boolean }) {
  const [enabled, setEnabled] = useState(initial);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const toggle = () => {
    setBusy(true);
    readApi(
      api.channels[':id'].follow.notifications.$put({
        param: { id: encodeURIComponent(channelId) },
        json: { enabled: !enabled },
      }),
    ).then(
      (answer) => {
        setEnabled(answer.enabled);
        setError(undefined);
        setBusy(false);
      },
      (failure: unknown) => {
        setError(failure);
        setBusy(false);
      },
    );
  };
  return (
    <>
      <button
        type="button"
        className="button-secondary"
        aria-pressed={enabled}
        aria-label={enabled ? 'Turn off live notifications' : 'Turn on live notifications'}
        title={enabled ? 'Live notifications on' : 'Live notifications off'}
        disabled={busy}
        onClick={toggle}
      >
        <BellIcon className={enabled ? undefined : 'icon-off'} />
        {enabled ? ' On' : ' Off'}
      </button>
      {error ? <ErrorMessage error={error} /> : null}
    </>
  );
}

function ClipButton({ stream }: { stream: LiveStream }) {
  const { user } = useAuth();
  const navigate = useNavigate();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const clip = () => {
    if (!user) {
      void navigate('/login');
      return;
    }
    setBusy(true);
    setError(null);
    const name = stream.channel.display_name || stream.channel.name;
    readApi(
      api.clips.$post({
        // The last 30 seconds, ending now: what the viewer just saw.
        json: {
          stream_id: stream.stream_id,
          title: `${name}: ${stream.title || 'clip'}`.slice(0, MAX_TITLE_LENGTH),
          duration_seconds: 30,
          offset_seconds: -30,
        },
      }),
    ).then(
      (created) => navigate(`/clip/${created.clip_id}`),
      (failure: unknown) => {
        setError(describeError(failure));
        setBusy(false);
      },
    );
  };

  return (
    <div className="action">
      <button
        type="button"
        className="button-secondary"
        disabled={busy}
        onClick={clip}
        aria-label="Clip the last 30 seconds"
      >
        {busy ? (
          'Clipping…'
        ) : (
          <>
            <ScissorsIcon /> Clip
          </>
        )}
      </button>
      {error ? (
        <p className="error-message" role="alert">
          {error}
        </p>
      ) : null}
    </div>
  );
}
