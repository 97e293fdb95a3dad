// Loading and error states, so every page says the same thing the same way.
import { describeError } from '../api/client.ts';

export function ErrorMessage({ error }: { error: unknown }) {
  return (
    <p className="error-message" role="alert">
      {describeError(error)}
    </p>
  );
}

export function LoadingMessage({ label = 'Loading…' }: { label?: string }) {
  return (
    <p className="loading" role="status">
      {label}
    </p>
  );
}
