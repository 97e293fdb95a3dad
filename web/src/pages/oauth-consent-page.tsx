// `/oauth2/authorize` (the Worker checks the request, then serves the app here): the consent page
// of the authorization code flow (docs/twitch-compat.md, "OAuth2"). It names the application and
// lists every scope it asks for; "Authorize" or "Cancel" is posted with the session token and the
// page follows the redirect the server builds (a code, or error=access_denied).
import { useEffect, useState } from 'react';
import { Link, useLocation } from 'react-router';
import * as z from 'zod/mini';
import { describeError } from '../api/client.ts';
import { requestJson, ScopeDescription } from '../api/developer-client.ts';
import { useAuth } from '../auth/auth-context.tsx';
import { ErrorMessage, LoadingMessage } from '../components/status-message.tsx';

const Details = z.object({
  client_id: z.string(),
  name: z.string(),
  redirect_uri: z.string(),
  scopes: z.array(ScopeDescription),
});
const Decision = z.object({ redirect_to: z.string() });

export function OAuthConsentPage() {
  const { user, ready } = useAuth();
  const location = useLocation();
  const query = location.search.replace(/^\?/, '');
  const [details, setDetails] = useState<z.infer<typeof Details> | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    requestJson(`/oauth2/authorize/details?${query}`, Details).then(setDetails, setError);
  }, [query]);

  if (!ready) return <LoadingMessage />;
  // The login page does not come back here by itself: the user logs in and opens this link again.
  if (!user) return <SignInFirst />;
  if (error !== null) return <ErrorMessage error={error} />;
  if (details === null) return <LoadingMessage />;

  const decide = (decision: 'allow' | 'deny') => {
    setBusy(true);
    requestJson('/oauth2/authorize', Decision, {
      method: 'POST',
      body: JSON.stringify({ query, decision }),
    }).then(
      (answer) => window.location.assign(answer.redirect_to),
      (failure: unknown) => {
        setBusy(false);
        setError(new Error(describeError(failure)));
      },
    );
  };

  return (
    <div className="consent">
      <h1>Authorize {details.name}</h1>
      <p>
        <strong>{details.name}</strong> would like to act as <strong>{user.username}</strong> with these
        permissions:
      </p>
      {details.scopes.length === 0 ? (
        <p className="hint">Only your public profile.</p>
      ) : (
        <ul className="scope-list">
          {details.scopes.map((scope) => (
            <li key={scope.scope}>
              {scope.description} <code>{scope.scope}</code>
            </li>
          ))}
        </ul>
      )}
      <p className="hint">You will be sent to {new URL(details.redirect_uri).origin}.</p>
      <div className="actions">
        <button type="button" disabled={busy} onClick={() => decide('allow')}>
          Authorize
        </button>
        <button type="button" className="secondary" disabled={busy} onClick={() => decide('deny')}>
          Cancel
        </button>
      </div>
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
