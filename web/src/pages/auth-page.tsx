// `/login` and `/signup`: one form, two endpoints. After either, the viewer lands where they were
// going (or the dashboard after signing up: a new account is a new channel).
import { type FormEvent, useState } from 'react';
import { Link, useNavigate } from 'react-router';
import { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, USERNAME_PATTERN } from '../../../protocol/limits.ts';
import { describeError } from '../api/client.ts';
import { useAuth } from '../auth/auth-context.tsx';

export function AuthPage({ mode }: { mode: 'login' | 'signup' }) {
  const { signUp, logIn } = useAuth();
  const navigate = useNavigate();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const signingUp = mode === 'signup';

  const submit = (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    (signingUp ? signUp : logIn)(username.trim(), password).then(
      () => navigate(signingUp ? '/dashboard' : '/'),
      (failure: unknown) => {
        setError(describeError(failure));
        setBusy(false);
      },
    );
  };

  return (
    <section className="auth-card" aria-labelledby="auth-heading">
      <h1 id="auth-heading">{signingUp ? 'Create your channel' : 'Log in'}</h1>
      <form onSubmit={submit}>
        <label htmlFor="auth-username">Username</label>
        <input
          id="auth-username"
          name="username"
          autoComplete="username"
          required
          maxLength={25}
          pattern={USERNAME_PATTERN}
          title="3 to 25 letters, digits and underscores"
          value={username}
          onChange={(event) => setUsername(event.target.value)}
        />
        <label htmlFor="auth-password">Password</label>
        <input
          id="auth-password"
          name="password"
          type="password"
          autoComplete={signingUp ? 'new-password' : 'current-password'}
          required
          minLength={MIN_PASSWORD_LENGTH}
          maxLength={MAX_PASSWORD_LENGTH}
          value={password}
          onChange={(event) => setPassword(event.target.value)}
        />
        {error ? (
          <p className="error-message" role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit" className="button-primary" disabled={busy}>
          {signingUp ? 'Sign up' : 'Log in'}
        </button>
      </form>
      <p>
        {signingUp ? (
          <>
            Already have an account? <Link to="/login">Log in</Link>
          </>
        ) : (
          <>
            New here? <Link to="/signup">Sign up</Link>
          </>
        )}
      </p>
    </section>
  );
}
