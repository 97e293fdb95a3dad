// `/settings` (loaded on demand): the signed-in account's security. Change the password (the API
// ends every other session, docs/api.md), see where the account is signed in and revoke any of
// those sessions, or log out everywhere at once.
import { type FormEvent, useState } from 'react';
import { Link, Navigate, useNavigate } from 'react-router';
import { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from '../../../protocol/limits.ts';
import { api, describeError, readApi } from '../api/client.ts';
import type { SessionInfo } from '../api/types.ts';
import { useApi } from '../api/use-api.ts';
import { useAuth } from '../auth/auth-context.tsx';
import { formatDate } from '../components/format.ts';
import { Panel } from '../components/panel.tsx';
import { ErrorMessage, LoadingMessage } from '../components/status-message.tsx';

export function SettingsPage() {
  const { user, ready } = useAuth();
  if (!ready) return <LoadingMessage />;
  if (!user) return <Navigate to="/login" replace />;
  return (
    <div className="settings">
      <h1>Account settings</h1>
      <p className="hint">Signed in as {user.username}.</p>
      <p className="hint">
        Building a bot or an overlay? <Link to="/settings/developer">Developer applications</Link>
      </p>
      <Panel title="Password">
        <PasswordForm />
      </Panel>
      <Panel title="Where you are signed in">
        <SessionList />
      </Panel>
    </div>
  );
}

function PasswordForm() {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [repeated, setRepeated] = useState('');
  const [note, setNote] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (next !== repeated) {
      setNote('The new passwords do not match.');
      return;
    }
    setBusy(true);
    readApi(api.auth.password.$post({ json: { current_password: current, new_password: next } })).then(
      () => {
        setCurrent('');
        setNext('');
        setRepeated('');
        setBusy(false);
        setNote('Password changed. Every other session has been signed out.');
      },
      (error: unknown) => {
        setBusy(false);
        setNote(describeError(error));
      },
    );
  };

  return (
    <form className="stack-form" onSubmit={submit}>
      <label htmlFor="current-password">Current password</label>
      <input
        id="current-password"
        type="password"
        autoComplete="current-password"
        required
        value={current}
        onChange={(event) => setCurrent(event.target.value)}
      />
      <label htmlFor="new-password">New password</label>
      <input
        id="new-password"
        type="password"
        autoComplete="new-password"
        required
        minLength={MIN_PASSWORD_LENGTH}
        maxLength={MAX_PASSWORD_LENGTH}
        value={next}
        onChange={(event) => setNext(event.target.value)}
      />
      <label htmlFor="repeat-password">New password again</label>
      <input
        id="repeat-password"
        type="password"
        autoComplete="new-password"
        required
        minLength={MIN_PASSWORD_LENGTH}
        maxLength={MAX_PASSWORD_LENGTH}
        value={repeated}
        onChange={(event) => setRepeated(event.target.value)}
      />
      <button type="submit" className="button-primary" disabled={busy}>
        Change password
      </button>
      {note ? <p role="status">{note}</p> : null}
    </form>
  );
}

function SessionList() {
  const { endSession } = useAuth();
  const navigate = useNavigate();
  const sessions = useApi('/auth/sessions', (options) => readApi(api.auth.sessions.$get({}, options)));
  const [note, setNote] = useState<string | null>(null);
  const list = sessions.data?.data ?? [];

  /** This browser's session is gone: forget the token and go to the login page. */
  const leave = () => {
    endSession();
    void navigate('/login');
  };
  const revoke = (session: SessionInfo) => {
    readApi(api.auth.sessions[':id'].$delete({ param: { id: encodeURIComponent(session.id) } })).then(
      () => {
        if (session.current) {
          leave();
          return;
        }
        setNote('Session signed out.');
        sessions.reload();
      },
      (error: unknown) => setNote(describeError(error)),
    );
  };
  const logOutEverywhere = () => {
    if (!window.confirm('Sign out of every browser and device, this one included?')) return;
    readApi(api.auth['logout-all'].$post()).then(leave, (error: unknown) => setNote(describeError(error)));
  };

  if (sessions.error && list.length === 0) return <ErrorMessage error={sessions.error} />;
  if (sessions.loading && list.length === 0) return <LoadingMessage />;
  return (
    <div>
      <ul className="session-list" aria-label="Sessions">
        {list.map((session) => (
          <li key={session.id} data-session={session.id}>
            <span className="session-agent">{session.user_agent || 'Unknown browser'}</span>
            <span className="hint">
              signed in {formatDate(session.created_at)}
              {session.current ? ' · this browser' : ''}
            </span>
            <button type="button" className="button-secondary" onClick={() => revoke(session)}>
              {session.current ? 'Sign out this browser' : 'Sign out'}
            </button>
          </li>
        ))}
      </ul>
      <button type="button" className="button-danger" onClick={logOutEverywhere}>
        Log out everywhere
      </button>
      {note ? <p role="status">{note}</p> : null}
    </div>
  );
}
