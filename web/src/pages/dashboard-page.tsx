// `/dashboard` (loaded on demand: viewers never download it): the streamer's control room. Stream
// key (hidden until revealed), stream info, a live preview with health figures, chat settings,
// moderators and VIPs, channel emotes, past broadcasts and clips.
import { type FormEvent, type ReactNode, useEffect, useState } from 'react';
import { Link, Navigate } from 'react-router';
import { describeError, requestApi } from '../api/client.ts';
import {
  CategoryListSchema,
  type Channel,
  ChannelSchema,
  type ChatSettings,
  ChatSettingsSchema,
  ClipSchema,
  EmoteListSchema,
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

  if (!live.data) {
    return (
      <p className="empty">
        {live.loading
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
        maxLength={140}
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
        max={120}
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
  const members = list.data ? (Array.isArray(list.data) ? list.data : list.data.data) : [];
  const label = kind === 'moderators' ? 'moderator' : 'VIP';

  const change = (username: string, method: 'PUT' | 'DELETE') => {
    requestApi(`${base}/${kind}/${encodeURIComponent(username)}`, EmptySchema, { method }).then(
      () => {
        setNote(method === 'PUT' ? `${username} is now a ${label}.` : `${username} is no longer a ${label}.`);
        setName('');
        list.reload();
      },
      (error: unknown) => setNote(describeError(error)),
    );
  };

  return (
    <div>
      {members.length === 0 ? (
        <p className="empty">No {label}s yet.</p>
      ) : (
        <ul className="role-list">
          {members.map((member) => {
            const username = member.username ?? member.name ?? member.user_id ?? member.id ?? '';
            return (
              <li key={username}>
                {username}
                <button
                  type="button"
                  className="button-secondary"
                  aria-label={`Remove ${username} as ${label}`}
                  onClick={() => change(username, 'DELETE')}
                >
                  Remove
                </button>
              </li>
            );
          })}
        </ul>
      )}
      <form
        className="input-row"
        onSubmit={(event) => {
          event.preventDefault();
          if (name.trim() !== '') change(name.trim(), 'PUT');
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

function EmotePanel({ base }: { base: string }) {
  const emotes = useApi(`${base}/emotes`, EmoteListSchema);
  const [name, setName] = useState('');
  const [url, setUrl] = useState('');
  const [note, setNote] = useState<string | null>(null);
  const list = emotes.data ? (Array.isArray(emotes.data) ? emotes.data : emotes.data.data) : [];

  const add = (event: FormEvent) => {
    event.preventDefault();
    requestApi(`${base}/emotes`, EmptySchema, {
      method: 'POST',
      body: { name: name.trim(), image_url: url.trim() },
    }).then(
      () => {
        setName('');
        setUrl('');
        setNote('Emote added.');
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
      {list.length === 0 ? (
        <p className="empty">No channel emotes yet.</p>
      ) : (
        <ul className="emote-grid">
          {list.map((emote) => {
            const code = emote.name ?? emote.code ?? emote.id;
            return (
              <li key={emote.id}>
                <img src={emote.url} alt={code} />
                <span>{code}</span>
                <button
                  type="button"
                  className="button-secondary"
                  aria-label={`Delete emote ${code}`}
                  onClick={() => remove(emote.id)}
                >
                  ✕
                </button>
              </li>
            );
          })}
        </ul>
      )}
      <form className="stack-form" onSubmit={add}>
        <label htmlFor="emote-name">Emote name</label>
        <input
          id="emote-name"
          required
          pattern="[A-Za-z0-9]+"
          value={name}
          onChange={(e) => setName(e.target.value)}
        />
        <label htmlFor="emote-url">Image URL</label>
        <input id="emote-url" required type="url" value={url} onChange={(e) => setUrl(e.target.value)} />
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
