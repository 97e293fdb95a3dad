// `/dashboard` (loaded on demand: viewers never download it): the streamer's control room. Stream
// key (hidden until revealed), stream info, a live preview with health figures, chat settings,
// moderators and VIPs, channel emotes, past broadcasts and clips.
import { type FormEvent, useEffect, useState } from 'react';
import { Link, Navigate } from 'react-router';
import { MAX_TITLE_LENGTH } from '../../../protocol/limits.ts';
import { api, describeError, readApi } from '../api/client.ts';
import type { Channel } from '../api/types.ts';
import { useApi } from '../api/use-api.ts';
import { useAuth } from '../auth/auth-context.tsx';
import { formatCount, formatDate, formatDuration } from '../components/format.ts';
import { Panel } from '../components/panel.tsx';
import { ErrorMessage, LoadingMessage } from '../components/status-message.tsx';
import { HlsPlayer, type PlayerStats } from '../player/hls-player.tsx';
import { AutoHostPanel } from './dashboard-auto-host-panel.tsx';
import { AutomodQueuePanel, ChatSettingsForm, EmotePanel, RoleList } from './dashboard-chat-panels.tsx';
import { EarningsPanel } from './dashboard-earnings.tsx';
import { PollPredictionPanel, RewardsPanel } from './dashboard-engagement.tsx';
import { SchedulePanel } from './dashboard-schedule-panel.tsx';
import { TierProgramPanel } from './dashboard-tier-panel.tsx';

const HEALTH_REFRESH_MS = 5000;

type StreamKey = {
  stream_key: string;
  ingest_url: string;
  secure_ingest_url: string;
  backup_ingest_url: string;
  ingest_notice?: { code: string; message: string; at: number } | null;
};

export function DashboardPage() {
  const { user, channel: sessionChannel, ready } = useAuth();
  const fallback = useApi(user && !sessionChannel ? `/channels/${user.username}` : null, (options) =>
    readApi(api.channels[':id'].$get({ param: { id: encodeURIComponent(user?.username ?? '') } }, options)),
  );
  if (!ready) return <LoadingMessage />;
  if (!user) return <Navigate to="/login" replace />;
  const channel = sessionChannel ?? fallback.data;
  if (fallback.error) return <ErrorMessage error={fallback.error} />;
  if (!channel) return <LoadingMessage />;
  const channelId = channel.id;
  return (
    <div className="dashboard">
      <h1>Creator dashboard</h1>
      {/* A full load: only the go-live document may use the camera (web/public/_headers). */}
      <p>
        <a href="/dashboard/go-live">Go live from the browser</a>
      </p>
      <div className="dashboard-grid">
        <Panel title="Stream key">
          <StreamKeyPanel channelId={channelId} />
        </Panel>
        <Panel title="Live preview">
          <LivePreview channel={channel} />
        </Panel>
        <Panel title="Stream info">
          <StreamInfoForm channel={channel} />
        </Panel>
        <Panel title="Chat settings">
          <ChatSettingsForm channelId={channelId} />
        </Panel>
        <Panel title="Polls and predictions">
          <PollPredictionPanel channelId={channelId} />
        </Panel>
        <Panel title="Channel points rewards">
          <RewardsPanel channelId={channelId} />
        </Panel>
        <Panel title="Held by AutoMod">
          <AutomodQueuePanel channelId={channelId} />
        </Panel>
        <Panel title="Moderators">
          <RoleList channelId={channelId} kind="moderators" />
        </Panel>
        <Panel title="VIPs">
          <RoleList channelId={channelId} kind="vips" />
        </Panel>
        <Panel title="Emotes">
          <EmotePanel channelId={channelId} />
        </Panel>
        <Panel title="Past broadcasts and clips">
          <PastMedia channelId={channelId} />
        </Panel>
        <Panel title="Earnings">
          <EarningsPanel channelId={channelId} channelName={channel.name} />
        </Panel>
        <Panel title="Schedule">
          <SchedulePanel channelId={channelId} />
        </Panel>
        <Panel title="Auto-host">
          <AutoHostPanel channelId={channelId} />
        </Panel>
        <Panel title="Affiliate and Partner program">
          <TierProgramPanel channelId={channelId} />
        </Panel>
      </div>
    </div>
  );
}

/** A read-only value with its label and a Copy button (the ingest URLs). */
function CopyField({
  id,
  label,
  value,
  onCopy,
}: {
  id: string;
  label: string;
  value: string;
  onCopy: () => void;
}) {
  return (
    <>
      <label htmlFor={id}>{label}</label>
      <div className="input-row">
        <input id={id} readOnly value={value} />
        <button type="button" className="button-secondary" onClick={onCopy}>
          Copy
        </button>
      </div>
    </>
  );
}

function StreamKeyPanel({ channelId }: { channelId: string }) {
  const id = encodeURIComponent(channelId);
  const key = useApi(`/channels/${channelId}/stream-key`, (options) =>
    readApi(api.channels[':id']['stream-key'].$get({ param: { id } }, options)),
  );
  const [revealed, setRevealed] = useState(false);
  const [override, setOverride] = useState<StreamKey | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const current = override ?? key.data;

  const copy = (text: string, what: string) => {
    navigator.clipboard.writeText(text).then(
      () => setNote(`${what} copied.`),
      () => setNote(`Could not copy the ${what.toLowerCase()}; select it and copy by hand.`),
    );
  };
  const reset = () => {
    if (!window.confirm('Reset the stream key? Anyone streaming with the old key is cut off.')) return;
    readApi(api.channels[':id']['stream-key'].reset.$post({ param: { id } })).then(
      (next) => {
        setOverride(next);
        setRevealed(true);
        setNote('New stream key created. Update it in your broadcasting software.');
      },
      (error: unknown) => setNote(describeError(error)),
    );
  };

  if (key.error) return <ErrorMessage error={key.error} />;
  if (!current) return <LoadingMessage />;
  // Why the ingest fleet refused the last go-live (a full fleet), until a publish is placed again.
  const notice = key.data?.ingest_notice ?? null;
  return (
    <div className="key-panel">
      {notice ? (
        <p className="error-message" role="alert">
          Your last go-live was refused: {notice.message}
        </p>
      ) : null}
      <CopyField
        id="secure-ingest-url"
        label="Server (RTMPS URL, encrypted: recommended)"
        value={current.secure_ingest_url}
        onCopy={() => copy(current.secure_ingest_url, 'Server URL')}
      />
      <CopyField
        id="ingest-url"
        label="Server (RTMP URL, unencrypted)"
        value={current.ingest_url}
        onCopy={() => copy(current.ingest_url, 'Server URL')}
      />
      <CopyField
        id="backup-ingest-url"
        label="Backup server (an encoder that streams to two servers at once keeps you live if one ingest server fails)"
        value={current.backup_ingest_url}
        onCopy={() => copy(current.backup_ingest_url, 'Backup server URL')}
      />
      <label htmlFor="stream-key">Stream key</label>
      <div className="input-row">
        <input
          id="stream-key"
          readOnly
          type={revealed ? 'text' : 'password'}
          value={current.stream_key}
          aria-describedby="stream-key-hint"
        />
        <button type="button" className="button-secondary" onClick={() => setRevealed((value) => !value)}>
          {revealed ? 'Hide' : 'Reveal'}
        </button>
        <button
          type="button"
          className="button-secondary"
          onClick={() => copy(current.stream_key, 'Stream key')}
        >
          Copy
        </button>
        <button type="button" className="button-danger" onClick={reset}>
          Reset
        </button>
      </div>
      <p id="stream-key-hint" className="hint">
        Never show your key on stream: anyone with it can broadcast as you.
      </p>
      {note ? <p role="status">{note}</p> : null}
    </div>
  );
}

function LivePreview({ channel }: { channel: Channel }) {
  const live = useApi(`/streams/${channel.id}/live`, (options) =>
    readApi(
      api.streams[':channel_id'].live.$get(
        { param: { channel_id: encodeURIComponent(channel.id) } },
        options,
      ),
    ),
  );
  const [stats, setStats] = useState<PlayerStats | null>(null);
  const { reload } = live;
  useEffect(() => {
    const timer = window.setInterval(reload, HEALTH_REFRESH_MS);
    return () => window.clearInterval(timer);
  }, [reload]);

  // The health poll answers 404 once the stream ends, which clears `live.data`: back to offline.
  if (!live.data) {
    return (
      <p className="empty" data-preview="offline">
        {live.loading && live.error === undefined
          ? 'Checking…'
          : 'You are offline. Point your broadcasting software at the server and key.'}
      </p>
    );
  }
  const level = stats && stats.playingLevel >= 0 ? stats.levels[stats.playingLevel] : undefined;
  // What the transcoder measures of the source (the API sends it to the owner only).
  const health = live.data.health;
  return (
    <div className="preview">
      <HlsPlayer src={live.data.manifest_url} live muted onStats={setStats} />
      {health && health.warnings.length > 0 ? (
        <ul className="health-warnings" aria-label="Stream health warnings">
          {health.warnings.map((warning) => (
            <li key={warning.code} data-warning={warning.code}>
              {warning.message}
            </li>
          ))}
        </ul>
      ) : null}
      <dl className="health" aria-label="Stream health">
        <dt>Viewers</dt>
        <dd data-health="viewers">{formatCount(live.data.viewer_count)}</dd>
        <dt>Bitrate</dt>
        <dd data-health="bitrate">{level ? `${Math.round(level.bitrate / 1000)} kbps` : '–'}</dd>
        <dt>Frame rate</dt>
        <dd data-health="fps">{level?.fps ? `${Math.round(level.fps)} fps` : '–'}</dd>
        <dt>Renditions</dt>
        <dd data-health="renditions">{stats ? stats.levels.map((l) => l.label).join(', ') || '–' : '–'}</dd>
        <dt>Latency</dt>
        <dd data-health="latency">
          {stats?.latencySeconds !== undefined ? `${stats.latencySeconds.toFixed(1)} s` : '–'}
        </dd>
        <dt>Dropped frames</dt>
        <dd>{stats?.droppedFrames ?? '–'}</dd>
        <dt>Bitrate in</dt>
        <dd data-health="bitrate-in">
          {health?.bitrate_bps != null ? `${Math.round(health.bitrate_bps / 1000)} kbps` : '–'}
        </dd>
        <dt>Keyframe interval</dt>
        <dd data-health="keyframes">
          {health?.keyframe_interval_ms != null
            ? `${(health.keyframe_interval_ms / 1000).toFixed(1)} s`
            : '–'}
        </dd>
        <dt>Encoder speed</dt>
        <dd data-health="speed">
          {health?.encode_speed != null ? `${health.encode_speed.toFixed(2)}x` : '–'}
        </dd>
      </dl>
      <Link to={`/${channel.name}`}>Open your channel page</Link>
    </div>
  );
}

function StreamInfoForm({ channel }: { channel: Channel }) {
  const categories = useApi('/categories', (options) => readApi(api.categories.$get({}, options)));
  const [title, setTitle] = useState(channel.title);
  const [category, setCategory] = useState(channel.category?.slug ?? '');
  const [tags, setTags] = useState(channel.tags.join(', '));
  const [note, setNote] = useState<string | null>(null);

  const save = (event: FormEvent) => {
    event.preventDefault();
    const json = {
      title: title.trim(),
      category: category === '' ? null : category,
      tags: tags
        .split(',')
        .map((tag) => tag.trim())
        .filter((tag) => tag !== ''),
    };
    readApi(api.channels[':id'].$patch({ param: { id: encodeURIComponent(channel.id) }, json })).then(
      () => setNote('Saved.'),
      (error: unknown) => setNote(describeError(error)),
    );
  };

  return (
    <form className="stack-form" onSubmit={save}>
      <label htmlFor="info-title">Title</label>
      <input
        id="info-title"
        maxLength={MAX_TITLE_LENGTH}
        value={title}
        onChange={(event) => setTitle(event.target.value)}
      />
      <label htmlFor="info-category">Category</label>
      <select id="info-category" value={category} onChange={(event) => setCategory(event.target.value)}>
        <option value="">None</option>
        {(categories.data?.data ?? []).map((item) => (
          <option key={item.slug} value={item.slug}>
            {item.name}
          </option>
        ))}
      </select>
      <label htmlFor="info-tags">Tags (comma separated)</label>
      <input id="info-tags" value={tags} onChange={(event) => setTags(event.target.value)} />
      <button type="submit" className="button-primary">
        Save
      </button>
      {note ? <p role="status">{note}</p> : null}
    </form>
  );
}

function PastMedia({ channelId }: { channelId: string }) {
  const param = { id: encodeURIComponent(channelId) };
  const vods = useApi(`/channels/${channelId}/vods`, (options) =>
    readApi(api.channels[':id'].vods.$get({ param, query: { limit: '10' } }, options)),
  );
  const clips = useApi(`/channels/${channelId}/clips`, (options) =>
    readApi(api.channels[':id'].clips.$get({ param, query: { sort: 'recent', limit: '10' } }, options)),
  );
  return (
    <div className="past-media">
      <h3>Past broadcasts</h3>
      {vods.data && vods.data.data.length > 0 ? (
        <ul>
          {vods.data.data.map((vod) => (
            <li key={vod.id}>
              <Link to={`/videos/${vod.id}`}>{vod.title || 'Past broadcast'}</Link>{' '}
              <span className="hint">
                {formatDate(vod.created_at)} · {formatDuration(vod.duration_seconds)}
              </span>
            </li>
          ))}
        </ul>
      ) : (
        <p className="empty">No past broadcasts yet.</p>
      )}
      <h3>Clips</h3>
      {clips.data && clips.data.data.length > 0 ? (
        <ul>
          {clips.data.data.map((clip) => (
            <li key={clip.id}>
              <Link to={`/clip/${clip.id}`}>{clip.title || 'Clip'}</Link>{' '}
              <span className="hint">{formatCount(clip.view_count)} views</span>
            </li>
          ))}
        </ul>
      ) : (
        <p className="empty">No clips yet.</p>
      )}
    </div>
  );
}
