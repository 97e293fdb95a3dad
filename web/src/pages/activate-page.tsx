// `/activate`: where a user enters the code a device shows (the device code flow, RFC 8628; docs/
// twitch-compat.md). The code may arrive in `?device-code=`; the page shows the application and
// its scopes before the user approves or denies it.
import { type FormEvent, useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import * as z from 'zod/mini';
import { requestJson, ScopeDescription } from '../api/developer-client.ts';
import { useAuth } from '../auth/auth-context.tsx';
import { ErrorMessage, LoadingMessage } from '../components/status-message.tsx';

const Details = z.object({ client_id: z.string(), name: z.string(), scopes: z.array(ScopeDescription) });
const Done = z.object({ ok: z.boolean(), decision: z.string() });

export function ActivatePage() {
  const { user, ready } = useAuth();
  const [params] = useSearchParams();
  const [code, setCode] = useState(params.get('device-code') ?? '');
  const [details, setDetails] = useState<z.infer<typeof Details> | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);

  if (!ready) return <LoadingMessage />;
  // The login page does not come back here by itself: the user logs in and opens this link again.
  if (!user) return <SignInFirst />;

  const lookUp = (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    requestJson(`/oauth2/activate/details?user_code=${encodeURIComponent(code)}`, Details).then(
      setDetails,
      setError,
    );
  };
  const decide = (decision: 'allow' | 'deny') => {
    requestJson('/oauth2/activate', Done, {
      method: 'POST',
      body: JSON.stringify({ user_code: code, decision }),
    }).then(
      (answer) =>
        setDone(
          answer.decision === 'allow' ? 'Device connected. You can close this page.' : 'Request denied.',
        ),
      setError,
    );
  };

  return (
    <div className="activate">
      <h1>Activate a device</h1>
      {done !== null ? (
        <p role="status">{done}</p>
      ) : details === null ? (
        <form onSubmit={lookUp}>
          <label>
            Code shown on your device
            <input
              value={code}
              onChange={(event) => setCode(event.target.value)}
              maxLength={16}
              autoComplete="off"
            />
          </label>
          <button type="submit">Continue</button>
        </form>
      ) : (
        <>
          <p>
            <strong>{details.name}</strong> asks to act as <strong>{user.username}</strong> with:
          </p>
          <ul className="scope-list">
            {details.scopes.map((scope) => (
              <li key={scope.scope}>
                {scope.description} <code>{scope.scope}</code>
              </li>
            ))}
          </ul>
          <div className="actions">
            <button type="button" onClick={() => decide('allow')}>
              Authorize
            </button>
            <button type="button" className="secondary" onClick={() => decide('deny')}>
              Deny
            </button>
          </div>
        </>
      )}
      {error !== null && <ErrorMessage error={error} />}
    </div>
  );
}

function SignInFirst() {
  return (
    <p className="hint">
      <Link to="/login">Log in</Link> first, then open this page again.
    </p>
  );
}
