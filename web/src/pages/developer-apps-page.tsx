// `/settings/developer` (loaded on demand): the account's OAuth applications (docs/twitch-compat.md,
// "OAuth2"). Register one with its exact redirect URIs, see its client id, reset its secret (shown
// once, the server keeps only its hash) or delete it, which ends every token it holds.
import { type FormEvent, useCallback, useEffect, useState } from 'react';
import { Link } from 'react-router';
import * as z from 'zod/mini';
import { describeError } from '../api/client.ts';
import { DeveloperApp, requestJson } from '../api/developer-client.ts';
import { useAuth } from '../auth/auth-context.tsx';
import { Panel } from '../components/panel.tsx';
import { ErrorMessage, LoadingMessage } from '../components/status-message.tsx';

const AppList = z.object({ data: z.array(DeveloperApp) });

export function DeveloperAppsPage() {
  const { user, ready } = useAuth();
  const [apps, setApps] = useState<DeveloperApp[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [secret, setSecret] = useState<{ clientId: string; secret: string } | null>(null);

  const reload = useCallback(() => {
    requestJson('/api/v1/developer/apps', AppList).then((list) => setApps(list.data), setError);
  }, []);
  useEffect(() => {
    if (user) reload();
  }, [user, reload]);

  if (!ready) return <LoadingMessage />;
  if (!user)
    return (
      <p className="hint">
        <Link to="/login">Log in</Link> to manage your applications.
      </p>
    );

  const showSecret = (app: DeveloperApp) => {
    if (app.client_secret) setSecret({ clientId: app.client_id, secret: app.client_secret });
    reload();
  };

  return (
    <div className="settings developer-apps">
      <h1>Developer applications</h1>
      <p className="hint">
        Tools written for Twitch work here with their base URL changed: OAuth at <code>/oauth2/</code>, Helix
        at <code>/helix/</code>.
      </p>
      {secret && (
        <p role="status" className="secret-once">
          Client secret for <code>{secret.clientId}</code>: <code>{secret.secret}</code> — copy it now, it is
          not shown again.
        </p>
      )}
      <Panel title="Register an application">
        <RegisterForm onCreated={showSecret} />
      </Panel>
      <Panel title="Your applications">
        {error !== null && <ErrorMessage error={error} />}
        {apps === null ? (
          <LoadingMessage />
        ) : apps.length === 0 ? (
          <p className="hint">None yet.</p>
        ) : (
          <ul className="app-list">
            {apps.map((app) => (
              <AppRow key={app.client_id} app={app} onSecret={showSecret} onDeleted={reload} />
            ))}
          </ul>
        )}
      </Panel>
    </div>
  );
}

function RegisterForm({ onCreated }: { onCreated: (app: DeveloperApp) => void }) {
  const [name, setName] = useState('');
  const [uris, setUris] = useState('');
  const [clientType, setClientType] = useState<'confidential' | 'public'>('confidential');
  const [note, setNote] = useState<string | null>(null);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const redirectUris = uris
      .split(/\s+/)
      .map((uri) => uri.trim())
      .filter((uri) => uri.length > 0);
    requestJson('/api/v1/developer/apps', DeveloperApp, {
      method: 'POST',
      body: JSON.stringify({ name, redirect_uris: redirectUris, client_type: clientType }),
    }).then(
      (app) => {
        setName('');
        setUris('');
        setNote(null);
        onCreated(app);
      },
      (failure: unknown) => setNote(describeError(failure)),
    );
  };

  return (
    <form onSubmit={submit}>
      <label>
        Name
        <input value={name} onChange={(event) => setName(event.target.value)} maxLength={60} required />
      </label>
      <label>
        Redirect URIs (one per line; https, or http to localhost)
        <textarea value={uris} onChange={(event) => setUris(event.target.value)} rows={3} required />
      </label>
      <label>
        Client type
        <select
          value={clientType}
          onChange={(event) => setClientType(event.target.value === 'public' ? 'public' : 'confidential')}
        >
          <option value="confidential">Confidential (a server that keeps a secret)</option>
          <option value="public">Public (browser or device app: PKCE or device code, no secret)</option>
        </select>
      </label>
      <button type="submit">Register</button>
      {note && <p className="error-message">{note}</p>}
    </form>
  );
}

function AppRow({
  app,
  onSecret,
  onDeleted,
}: {
  app: DeveloperApp;
  onSecret: (app: DeveloperApp) => void;
  onDeleted: () => void;
}) {
  const [note, setNote] = useState<string | null>(null);
  const path = `/api/v1/developer/apps/${encodeURIComponent(app.client_id)}`;
  const resetSecret = () => {
    requestJson(`${path}/secret`, DeveloperApp, { method: 'POST' }).then(onSecret, (failure: unknown) =>
      setNote(describeError(failure)),
    );
  };
  const remove = () => {
    if (!window.confirm(`Delete ${app.name}? Every token it holds stops working.`)) return;
    requestJson(path, z.null(), { method: 'DELETE' }).then(onDeleted, (failure: unknown) =>
      setNote(describeError(failure)),
    );
  };
  return (
    <li>
      <strong>{app.name}</strong> ({app.client_type}) — client id <code>{app.client_id}</code>
      <ul>
        {app.redirect_uris.map((uri) => (
          <li key={uri}>
            <code>{uri}</code>
          </li>
        ))}
      </ul>
      <button type="button" className="secondary" onClick={resetSecret}>
        New client secret
      </button>{' '}
      <button type="button" className="secondary" onClick={remove}>
        Delete
      </button>
      {note && <p className="error-message">{note}</p>}
    </li>
  );
}
