// `/dashboard` (loaded on demand: viewers never download it): the streamer's control room. Stream
// key (hidden until revealed), stream info, a live preview with health figures, chat settings,
// moderators and VIPs, channel emotes, past broadcasts and clips.
import { type FormEvent, type ReactNode, useEffect, useState } from 'react';
import { Link, Navigate } from 'react-router';
import { MAX_FOLLOWERS_MINUTES, MAX_SLOW_SECONDS } from '../../../protocol/chat.ts';
import {
  EMOTE_IMAGE_TYPES,
  EMOTE_NAME_PATTERN,
  MAX_EMOTE_BYTES,
  MAX_TITLE_LENGTH,
} from '../../../protocol/limits.ts';
import { describeError, requestApi } from '../api/client.ts';
import {
  CategoryListSchema,
  type Channel,
  ChannelSchema,
  type ChatSettings,
  ChatSettingsSchema,
  ClipSchema,
  EmoteListSchema,
  EmoteSchema,
  EmptySchema,
  pageOf,
  RoleListSchema,
  StreamKeySchema,
  StreamSchema,
  VodSchema,
} from '../api/schemas.ts';
import { useApi } from '../api/use-api.ts';
import { useAuth } from '../auth/auth-context.tsx';
import { formatCount, formatDate, formatDuration } from '../components/format.ts';
import { CloseIcon } from '../components/icons.tsx';
import { ErrorMessage, LoadingMessage } from '../components/status-message.tsx';
import { HlsPlayer, type PlayerStats } from '../player/hls-player.tsx';
import { listCategories } from './home-page.tsx';

const HEALTH_REFRESH_MS = 5000;

export function DashboardPage() {
  const { user, channel: sessionChannel, ready } = useAuth();
  const fallback = useApi(
    user && !sessionChannel ? `/channels/${encodeURIComponent(user.username)}` : null,
    ChannelSchema,
  );
  if (!ready) return <LoadingMessage />;
  if (!user) return <Navigate to="/login" replace />;
  const channel = sessionChannel ?? fallback.data;
  if (fallback.error) return <ErrorMessage error={fallback.error} />;
  if (!channel) return <LoadingMessage />;
  const base = `/channels/${encodeURIComponent(channel.id)}`;
  return (
    <div className="dashboard">
      <h1>Creator dashboard</h1>
      <div className="dashboard-grid">
        <Panel title="Stream key">
          <StreamKeyPanel base={base} />
        </Panel>
        <Panel title="Live preview">
          <LivePreview channel={channel} />
        </Panel>
        <Panel title="Stream info">
          <StreamInfoForm channel={channel} base={base} />
        </Panel>
        <Panel title="Chat settings">
          <ChatSettingsForm base={base} />
        </Panel>
        <Panel title="Moderators">
          <RoleList base={base} kind="moderators" />
        </Panel>
        <Panel title="VIPs">
          <RoleList base={base} kind="vips" />
        </Panel>
        <Panel title="Emotes">
          <EmotePanel base={base} />
        </Panel>
        <Panel title="Past broadcasts and clips">
          <PastMedia base={base} />
        </Panel>
      </div>
    </div>
  );
}

function Panel({ title, children }: { title: string; children: ReactNode }) {
  const id = `panel-${title.toLowerCase().replace(/[^a-z]+/g, '-')}`;
  return (
    <section className="panel" aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {children}
    </section>
  );
}

function StreamKeyPanel({ base }: { base: string }) {
  const key = useApi(`${base}/stream-key`, StreamKeySchema);
  const [revealed, setRevealed] = useState(false);
  const [override, setOverride] = useState<{ stream_key: string; ingest_url: string } | null>(null);
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
    requestApi(`${base}/stream-key/reset`, StreamKeySchema, { method: 'POST' }).then(
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
  return (
    <div className="key-panel">
      <label htmlFor="ingest-url">Server (RTMP URL)</label>
      <div className="input-row">
        <input id="ingest-url" readOnly value={current.ingest_url} />
        <button
          type="button"
          className="button-secondary"
          onClick={() => copy(current.ingest_url, 'Server URL')}
        >
          Copy
        </button>
      </div>
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
  const live = useApi(`/streams/${encodeURIComponent(channel.id)}/live`, StreamSchema);
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
  return (
    <div className="preview">
      <HlsPlayer src={live.data.manifest_url} live muted onStats={setStats} />
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
      </dl>
      <Link to={`/${channel.name}`}>Open your channel page</Link>
    </div>
  );
}

function StreamInfoForm({ channel, base }: { channel: Channel; base: string }) {
  const categories = useApi('/categories', CategoryListSchema);
  const [title, setTitle] = useState(channel.title ?? '');
  const [category, setCategory] = useState(
    typeof channel.category === 'object' && channel.category ? (channel.category.slug ?? '') : '',
  );
  const [tags, setTags] = useState((channel.tags ?? []).join(', '));
  const [note, setNote] = useState<string | null>(null);

  const save = (event: FormEvent) => {
    event.preventDefault();
    const body = {
      title: title.trim(),
      category: category === '' ? null : category,
      tags: tags
        .split(',')
        .map((tag) => tag.trim())
        .filter((tag) => tag !== ''),
    };
    requestApi(base, ChannelSchema, { method: 'PATCH', body }).then(
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
        {(categories.data ? listCategories(categories.data) : []).map((item) => (
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

function ChatSettingsForm({ base }: { base: string }) {
  const settings = useApi(`${base}/chat/settings`, ChatSettingsSchema);
  const [draft, setDraft] = useState<ChatSettings | null>(null);
  const [words, setWords] = useState('');
  const [note, setNote] = useState<string | null>(null);
  useEffect(() => {
    if (settings.data) {
      setDraft(settings.data);
      setWords((settings.data.banned_words ?? []).join('\n'));
    }
  }, [settings.data]);

  if (settings.error) return <ErrorMessage error={settings.error} />;
  if (!draft) return <LoadingMessage />;
  const update = (patch: Partial<ChatSettings>) => setDraft({ ...draft, ...patch });
  const save = (event: FormEvent) => {
    event.preventDefault();
    const body = {
      slow_seconds: draft.slow_seconds ?? 0,
      subscribers_only: draft.subscribers_only ?? false,
      emote_only: draft.emote_only ?? false,
      followers_only_minutes: draft.followers_only_minutes ?? -1,
      unique_chat: draft.unique_chat ?? false,
      banned_words: words
        .split('\n')
        .map((word) => word.trim())
        .filter((word) => word !== ''),
    };
    requestApi(`${base}/chat/settings`, EmptySchema, { method: 'PATCH', body }).then(
      () => setNote('Chat settings saved.'),
      (error: unknown) => setNote(describeError(error)),
    );
  };
  return (
    <form className="stack-form" onSubmit={save}>
      <label htmlFor="slow-seconds">Slow mode (seconds between messages, 0 is off)</label>
      <input
        id="slow-seconds"
        type="number"
        min={0}
        max={MAX_SLOW_SECONDS}
        value={draft.slow_seconds ?? 0}
        onChange={(event) => update({ slow_seconds: Number(event.target.value) })}
      />
      <label className="check">
        <input
          type="checkbox"
          checked={draft.subscribers_only ?? false}
          onChange={(event) => update({ subscribers_only: event.target.checked })}
        />
        Subscribers only
      </label>
      <label className="check">
        <input
          type="checkbox"
          checked={draft.emote_only ?? false}
          onChange={(event) => update({ emote_only: event.target.checked })}
        />
        Emote only
      </label>
      <label htmlFor="followers-minutes">Followers only (minimum follow age in minutes, -1 is off)</label>
      <input
        id="followers-minutes"
        type="number"
        min={-1}
        max={MAX_FOLLOWERS_MINUTES}
        value={draft.followers_only_minutes ?? -1}
        onChange={(event) => update({ followers_only_minutes: Number(event.target.value) })}
      />
      <label htmlFor="banned-words">Banned words (one per line)</label>
      <textarea id="banned-words" rows={4} value={words} onChange={(event) => setWords(event.target.value)} />
      <button type="submit" className="button-primary">
        Save chat settings
      </button>
      {note ? <p role="status">{note}</p> : null}
    </form>
  );
}

function RoleList({ base, kind }: { base: string; kind: 'moderators' | 'vips' }) {
  const list = useApi(`${base}/${kind}`, RoleListSchema);
  const [name, setName] = useState('');
  const [note, setNote] = useState<string | null>(null);
  const members = list.data?.data ?? [];
  const label = kind === 'moderators' ? 'moderator' : 'VIP';

  // The API takes a user id or a username in the path: added by the name typed, removed by id.
  const change = (user: string, shownAs: string, method: 'POST' | 'DELETE') => {
    requestApi(`${base}/${kind}/${encodeURIComponent(user)}`, EmptySchema, { method }).then(
      () => {
        setNote(method === 'POST' ? `${shownAs} is now a ${label}.` : `${shownAs} is no longer a ${label}.`);
        if (method === 'POST') setName('');
        list.reload();
      },
      (error: unknown) => setNote(describeError(error)),
    );
  };

  return (
    <div>
      {list.error ? (
        <ErrorMessage error={list.error} />
      ) : members.length === 0 ? (
        <p className="empty">{list.loading ? 'Loading…' : `No ${label}s yet.`}</p>
      ) : (
        <ul className="role-list" aria-label={kind === 'moderators' ? 'Moderators' : 'VIPs'}>
          {members.map((member) => (
            <li key={member.user_id}>
              {member.username}
              <button
                type="button"
                className="button-secondary"
                aria-label={`Remove ${member.username} as ${label}`}
                onClick={() => change(member.user_id, member.username, 'DELETE')}
              >
                Remove
              </button>
            </li>
          ))}
        </ul>
      )}
      <form
        className="input-row"
        onSubmit={(event) => {
          event.preventDefault();
          const username = name.trim();
          if (username !== '') change(username, username, 'POST');
        }}
      >
        <label className="visually-hidden" htmlFor={`add-${kind}`}>
          Username to add as {label}
        </label>
        <input
          id={`add-${kind}`}
          placeholder="username"
          value={name}
          onChange={(e) => setName(e.target.value)}
        />
        <button type="submit" className="button-secondary">
          Add {label}
        </button>
      </form>
      {note ? <p role="status">{note}</p> : null}
    </div>
  );
}

// The API's emote rules (protocol/limits.ts), checked here too so a wrong file is refused before
// it is uploaded.
const EMOTE_ACCEPT = EMOTE_IMAGE_TYPES.join(',');

function EmotePanel({ base }: { base: string }) {
  const emotes = useApi(`${base}/emotes`, EmoteListSchema);
  const [name, setName] = useState('');
  const [file, setFile] = useState<File | null>(null);
  const [subscriberOnly, setSubscriberOnly] = useState(false);
  const [note, setNote] = useState<string | null>(null);
  const list = emotes.data?.emotes ?? [];

  const add = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = event.currentTarget;
    if (file === null) return;
    if (file.size > MAX_EMOTE_BYTES) {
      setNote(
        `The image is ${Math.ceil(file.size / 1024)} KiB; emotes are at most ${MAX_EMOTE_BYTES / 1024} KiB.`,
      );
      return;
    }
    const body = new FormData();
    body.set('name', name.trim());
    body.set('image', file);
    body.set('subscriber_only', String(subscriberOnly));
    requestApi(`${base}/emotes`, EmoteSchema, { method: 'POST', body }).then(
      (created) => {
        form.reset();
        setName('');
        setFile(null);
        setSubscriberOnly(false);
        setNote(`Emote ${created.name} added.`);
        emotes.reload();
      },
      (error: unknown) => setNote(describeError(error)),
    );
  };
  const remove = (id: string) => {
    requestApi(`${base}/emotes/${encodeURIComponent(id)}`, EmptySchema, { method: 'DELETE' }).then(
      () => emotes.reload(),
      (error: unknown) => setNote(describeError(error)),
    );
  };

  return (
    <div>
      {emotes.error ? (
        <ErrorMessage error={emotes.error} />
      ) : list.length === 0 ? (
        <p className="empty">{emotes.loading ? 'Loading…' : 'No channel emotes yet.'}</p>
      ) : (
        <ul className="emote-grid" aria-label="Channel emotes">
          {list.map((emote) => (
            <li key={emote.id} data-emote={emote.name}>
              <img src={emote.url} alt={emote.name} />
              <span>{emote.name}</span>
              {emote.subscriber_only ? <span className="hint">Subscribers</span> : null}
              <button
                type="button"
                className="button-secondary"
                aria-label={`Delete emote ${emote.name}`}
                onClick={() => remove(emote.id)}
              >
                <CloseIcon />
              </button>
            </li>
          ))}
        </ul>
      )}
      <form className="stack-form" onSubmit={add}>
        <label htmlFor="emote-name">Emote name (2–25 letters or digits)</label>
        <input
          id="emote-name"
          required
          pattern={EMOTE_NAME_PATTERN}
          value={name}
          onChange={(e) => setName(e.target.value)}
        />
        <label htmlFor="emote-image">Image (PNG, GIF or WebP, at most {MAX_EMOTE_BYTES / 1024} KiB)</label>
        <input
          id="emote-image"
          required
          type="file"
          accept={EMOTE_ACCEPT}
          onChange={(e) => setFile(e.target.files?.[0] ?? null)}
        />
        <label className="check">
          <input
            type="checkbox"
            checked={subscriberOnly}
            onChange={(e) => setSubscriberOnly(e.target.checked)}
          />
          Only for subscribers
        </label>
        <button type="submit" className="button-secondary">
          Add emote
        </button>
      </form>
      {note ? <p role="status">{note}</p> : null}
    </div>
  );
}

const VodPageSchema = pageOf(VodSchema);
const ClipPageSchema = pageOf(ClipSchema);

function PastMedia({ base }: { base: string }) {
  const vods = useApi(`${base}/vods?limit=10`, VodPageSchema);
  const clips = useApi(`${base}/clips?sort=recent&limit=10`, ClipPageSchema);
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
              <span className="hint">{formatCount(clip.view_count ?? 0)} views</span>
            </li>
          ))}
        </ul>
      ) : (
        <p className="empty">No clips yet.</p>
      )}
    </div>
  );
}
