// The dashboard's chat panels (dashboard-page.tsx): chat modes and banned words, the channel's
// moderators and VIPs, and its emotes. Limits shown in the forms come from protocol/, the ones the
// API enforces.
import { type FormEvent, useEffect, useState } from 'react';
import { MAX_FOLLOWERS_MINUTES, MAX_SLOW_SECONDS } from '../../../protocol/chat.ts';
import { EMOTE_IMAGE_TYPES, EMOTE_NAME_PATTERN, MAX_EMOTE_BYTES } from '../../../protocol/limits.ts';
import { api, describeError, readApi } from '../api/client.ts';
import type { ChatSettings } from '../api/types.ts';
import { useApi } from '../api/use-api.ts';
import { CloseIcon } from '../components/icons.tsx';
import { ErrorMessage, LoadingMessage } from '../components/status-message.tsx';

export function ChatSettingsForm({ channelId }: { channelId: string }) {
  const param = { id: encodeURIComponent(channelId) };
  const settings = useApi(`/channels/${channelId}/chat/settings`, (options) =>
    readApi(api.channels[':id'].chat.settings.$get({ param }, options)),
  );
  const [draft, setDraft] = useState<ChatSettings | null>(null);
  const [words, setWords] = useState('');
  const [domains, setDomains] = useState('');
  const [note, setNote] = useState<string | null>(null);
  useEffect(() => {
    if (settings.data) {
      setDraft(settings.data);
      setWords((settings.data.banned_words ?? []).join('\n'));
      setDomains((settings.data.automod_allowed_domains ?? []).join('\n'));
    }
  }, [settings.data]);

  if (settings.error) return <ErrorMessage error={settings.error} />;
  if (!draft) return <LoadingMessage />;
  const update = (patch: Partial<ChatSettings>) => setDraft({ ...draft, ...patch });
  const save = (event: FormEvent) => {
    event.preventDefault();
    const json = {
      slow_seconds: draft.slow_seconds,
      subscribers_only: draft.subscribers_only,
      emote_only: draft.emote_only,
      followers_only_minutes: draft.followers_only_minutes,
      unique_chat: draft.unique_chat,
      banned_words: splitLines(words),
      automod: draft.automod ?? false,
      automod_allowed_domains: splitLines(domains),
      auto_slow_messages_per_second: draft.auto_slow_messages_per_second ?? 0,
      auto_slow_seconds: draft.auto_slow_seconds ?? 3,
      sample_messages_per_second: draft.sample_messages_per_second ?? 20,
    };
    readApi(api.channels[':id'].chat.settings.$patch({ param, json })).then(
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
        value={draft.slow_seconds}
        onChange={(event) => update({ slow_seconds: Number(event.target.value) })}
      />
      <label className="check">
        <input
          type="checkbox"
          checked={draft.subscribers_only}
          onChange={(event) => update({ subscribers_only: event.target.checked })}
        />
        Subscribers only
      </label>
      <label className="check">
        <input
          type="checkbox"
          checked={draft.emote_only}
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
        value={draft.followers_only_minutes}
        onChange={(event) => update({ followers_only_minutes: Number(event.target.value) })}
      />
      <label htmlFor="banned-words">Banned words (one per line)</label>
      <textarea id="banned-words" rows={4} value={words} onChange={(event) => setWords(event.target.value)} />
      <label className="check">
        <input
          type="checkbox"
          checked={draft.automod ?? false}
          onChange={(event) => update({ automod: event.target.checked })}
        />
        AutoMod: hold shouting, repeated characters and links for a moderator
      </label>
      <label htmlFor="automod-domains">Links allowed without a hold (one domain per line)</label>
      <textarea
        id="automod-domains"
        rows={3}
        value={domains}
        onChange={(event) => setDomains(event.target.value)}
      />
      <label htmlFor="auto-slow-rate">
        Automatic slow mode: messages per second that turn it on (0 is off)
        {draft.auto_slow_active ? ' (on now)' : ''}
      </label>
      <input
        id="auto-slow-rate"
        type="number"
        min={0}
        value={draft.auto_slow_messages_per_second ?? 0}
        onChange={(event) => update({ auto_slow_messages_per_second: Number(event.target.value) })}
      />
      <label htmlFor="auto-slow-seconds">Automatic slow mode: seconds between messages</label>
      <input
        id="auto-slow-seconds"
        type="number"
        min={1}
        max={MAX_SLOW_SECONDS}
        value={draft.auto_slow_seconds ?? 3}
        onChange={(event) => update({ auto_slow_seconds: Number(event.target.value) })}
      />
      <label htmlFor="sample-rate">Messages per second each viewer reads before chat is sampled</label>
      <input
        id="sample-rate"
        type="number"
        min={5}
        max={100}
        value={draft.sample_messages_per_second ?? 20}
        onChange={(event) => update({ sample_messages_per_second: Number(event.target.value) })}
      />
      <button type="submit" className="button-primary">
        Save chat settings
      </button>
      {note ? <p role="status">{note}</p> : null}
    </form>
  );
}

function splitLines(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

/** AutoMod's queue: what it held, approved (sent to everyone) or denied (dropped) one by one. */
export function AutomodQueuePanel({ channelId }: { channelId: string }) {
  const param = { id: encodeURIComponent(channelId) };
  const held = useApi(`/channels/${channelId}/chat/automod`, (options) =>
    readApi(api.channels[':id'].chat.automod.$get({ param }, options)),
  );
  const [note, setNote] = useState<string | null>(null);
  const { reload } = held;
  // Held messages arrive while chat runs: look again every few seconds.
  useEffect(() => {
    const timer = setInterval(reload, 5000);
    return () => clearInterval(timer);
  }, [reload]);
  if (held.error) return <ErrorMessage error={held.error} />;
  if (!held.data) return <LoadingMessage />;
  const decide = (messageId: string, action: 'approve' | 'deny') =>
    readApi(
      api.channels[':id'].chat.automod[':msg_id'].$post({
        param: { ...param, msg_id: encodeURIComponent(messageId) },
        json: { action },
      }),
    ).then(
      (result) => {
        setNote(result.message);
        reload();
      },
      (error: unknown) => setNote(describeError(error)),
    );
  return (
    <div>
      {held.data.data.length === 0 ? <p>Nothing is waiting.</p> : null}
      <ul className="automod-queue">
        {held.data.data.map((message) => (
          <li key={message.id}>
            <p>
              <strong>{message.user.display_name}</strong>: {message.content}
            </p>
            <p className="muted">Held for {message.detail}</p>
            <button
              type="button"
              className="button-primary"
              onClick={() => void decide(message.id, 'approve')}
            >
              Approve
            </button>{' '}
            <button type="button" onClick={() => void decide(message.id, 'deny')}>
              Deny
            </button>
          </li>
        ))}
      </ul>
      {note ? <p role="status">{note}</p> : null}
    </div>
  );
}

export function RoleList({ channelId, kind }: { channelId: string; kind: 'moderators' | 'vips' }) {
  const id = encodeURIComponent(channelId);
  const routes = api.channels[':id'];
  const list = useApi(`/channels/${channelId}/${kind}`, (options) =>
    readApi(
      kind === 'moderators'
        ? routes.moderators.$get({ param: { id } }, options)
        : routes.vips.$get({ param: { id } }, options),
    ),
  );
  const [name, setName] = useState('');
  const [note, setNote] = useState<string | null>(null);
  const members = list.data?.data ?? [];
  const label = kind === 'moderators' ? 'moderator' : 'VIP';

  // The API takes a user id or a username in the path: added by the name typed, removed by id.
  const change = (user: string, shownAs: string, method: 'POST' | 'DELETE') => {
    const param = { id, user: encodeURIComponent(user) };
    const role = kind === 'moderators' ? routes.moderators[':user'] : routes.vips[':user'];
    readApi(method === 'POST' ? role.$post({ param }) : role.$delete({ param })).then(
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

export function EmotePanel({ channelId }: { channelId: string }) {
  const param = { id: encodeURIComponent(channelId) };
  const emotes = useApi(`/channels/${channelId}/emotes`, (options) =>
    readApi(api.channels[':id'].emotes.$get({ param }, options)),
  );
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
    // The route reads multipart itself (workers/api/routes/emotes.ts), so the form goes as the body.
    readApi(api.channels[':id'].emotes.$post({ param }, { init: { body } })).then(
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
    readApi(
      api.channels[':id'].emotes[':emote_id'].$delete({
        param: { ...param, emote_id: encodeURIComponent(id) },
      }),
    ).then(
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
