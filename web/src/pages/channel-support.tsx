// Paying a channel from the watch page (docs/payments.md): subscribe (tier 1/2/3), buy bits, tip with
// a message. Each button asks the API for a checkout (the server prices it) and goes to the
// provider's checkout page; after paying, the provider sends the buyer back to this channel.
import { type FormEvent, useState } from 'react';
import { useNavigate } from 'react-router';
import { api, readApi } from '../api/client.ts';
import type { Channel } from '../api/types.ts';
import { useAuth } from '../auth/auth-context.tsx';
import { ErrorMessage } from '../components/status-message.tsx';

type CheckoutBody =
  | { kind: 'subscription'; channel_id: string; tier: 1000 | 2000 | 3000; return_path: string }
  | { kind: 'bits'; bits: number; return_path: string }
  | { kind: 'tip'; channel_id: string; amount_cents: number; message: string; return_path: string };

export function ChannelSupport({ channel }: { channel: Channel }) {
  const { user, channel: ownChannel } = useAuth();
  const navigate = useNavigate();
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const [tier, setTier] = useState<1000 | 2000 | 3000>(1000);
  const [tip, setTip] = useState({ dollars: '5', message: '' });
  if (ownChannel?.id === channel.id) return null;
  const returnPath = `/${encodeURIComponent(channel.name)}`;

  const checkout = (body: CheckoutBody) => {
    if (!user) {
      void navigate('/login');
      return;
    }
    setBusy(true);
    readApi(api.payments.checkout.$post({ json: body })).then(
      (answer) => window.location.assign(answer.checkout_url),
      (failure: unknown) => {
        setError(failure);
        setBusy(false);
      },
    );
  };

  const sendTip = (event: FormEvent) => {
    event.preventDefault();
    const cents = Math.round(Number(tip.dollars) * 100);
    checkout({
      kind: 'tip',
      channel_id: channel.id,
      amount_cents: cents,
      message: tip.message,
      return_path: returnPath,
    });
  };

  return (
    <div className="action channel-support">
      <select
        aria-label="Subscription tier"
        value={tier}
        onChange={(event) =>
          setTier(
            Number(event.target.value) === 3000 ? 3000 : Number(event.target.value) === 2000 ? 2000 : 1000,
          )
        }
      >
        <option value={1000}>Tier 1</option>
        <option value={2000}>Tier 2</option>
        <option value={3000}>Tier 3</option>
      </select>
      <button
        type="button"
        className="button-primary"
        disabled={busy}
        onClick={() =>
          checkout({ kind: 'subscription', channel_id: channel.id, tier, return_path: returnPath })
        }
      >
        Subscribe
      </button>
      <button
        type="button"
        className="button-secondary"
        disabled={busy}
        onClick={() => checkout({ kind: 'bits', bits: 100, return_path: returnPath })}
      >
        Get 100 bits
      </button>
      <form className="tip-form" onSubmit={sendTip}>
        <input
          aria-label="Tip amount in dollars"
          inputMode="decimal"
          value={tip.dollars}
          onChange={(event) => setTip({ ...tip, dollars: event.target.value })}
        />
        <input
          aria-label="Tip message"
          maxLength={500}
          placeholder="Message"
          value={tip.message}
          onChange={(event) => setTip({ ...tip, message: event.target.value })}
        />
        <button type="submit" className="button-secondary" disabled={busy}>
          Tip
        </button>
      </form>
      {error === undefined ? null : <ErrorMessage error={error} />}
    </div>
  );
}
