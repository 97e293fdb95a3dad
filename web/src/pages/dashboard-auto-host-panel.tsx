// The dashboard's auto-host list (PUT /channels/{id}/auto-host): channels, by name, in the order the
// channel page tries them while this channel is offline. The API refuses unknown names, the
// channel itself and duplicates; its message is shown as is.
import { type FormEvent, useEffect, useState } from 'react';
import { api, describeError, readApi } from '../api/client.ts';
import { useApi } from '../api/use-api.ts';
import { ErrorMessage, LoadingMessage } from '../components/status-message.tsx';

/** Kept in step with MAX_AUTO_HOST_TARGETS (workers/api/routes/auto-host.ts); the API enforces it. */
const MAX_TARGETS = 10;

export function AutoHostPanel({ channelId }: { channelId: string }) {
  const param = { id: encodeURIComponent(channelId) };
  const list = useApi(`/channels/${channelId}/auto-host`, (options) =>
    readApi(api.channels[':id']['auto-host'].$get({ param }, options)),
  );
  const [names, setNames] = useState<string[]>([]);
  const [draft, setDraft] = useState('');
  const [note, setNote] = useState<string | null>(null);

  useEffect(() => {
    if (list.data) setNames(list.data.channels.map((channel) => channel.name));
  }, [list.data]);

  if (list.error) return <ErrorMessage error={list.error} />;
  if (!list.data) return <LoadingMessage />;

  const save = (next: string[]) => {
    setNote(null);
    readApi(api.channels[':id']['auto-host'].$put({ param, json: { channels: next } })).then(
      (saved) => {
        setNames(saved.channels.map((channel) => channel.name));
        setNote(saved.channels.length > 0 ? 'Saved.' : 'Auto-host is off.');
      },
      (error: unknown) => setNote(describeError(error)),
    );
  };

  const add = (event: FormEvent) => {
    event.preventDefault();
    const name = draft.trim();
    if (name === '') return;
    setDraft('');
    save([...names, name]);
  };

  const move = (index: number, by: number) => {
    const next = [...names];
    const [item] = next.splice(index, 1);
    if (item === undefined) return;
    next.splice(index + by, 0, item);
    save(next);
  };

  return (
    <div className="stack-form auto-host">
      <p>While you are offline, your channel page plays the first of these that is live.</p>
      {names.length > 0 ? (
        <ol className="auto-host-list">
          {names.map((name, index) => (
            <li key={name} className="input-row">
              <span>{name}</span>
              <button
                type="button"
                className="button-secondary"
                aria-label={`Move ${name} up`}
                disabled={index === 0}
                onClick={() => move(index, -1)}
              >
                Up
              </button>
              <button
                type="button"
                className="button-secondary"
                aria-label={`Remove ${name}`}
                onClick={() => save(names.filter((other) => other !== name))}
              >
                Remove
              </button>
            </li>
          ))}
        </ol>
      ) : (
        <p>No channels: auto-host is off.</p>
      )}
      {names.length < MAX_TARGETS ? (
        <form className="input-row" onSubmit={add}>
          <label htmlFor="auto-host-add" className="visually-hidden">
            Channel to host
          </label>
          <input
            id="auto-host-add"
            placeholder="Channel name"
            maxLength={100}
            value={draft}
            onChange={(event) => setDraft(event.target.value)}
          />
          <button type="submit" className="button-primary">
            Add
          </button>
        </form>
      ) : null}
      {note ? <p role="status">{note}</p> : null}
    </div>
  );
}
