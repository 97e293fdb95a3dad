// The dashboard's earnings panel (docs/payments.md): subscriptions at the configured revenue share,
// bits cheered, tips, and the alerts overlay's URL for OBS.
import { api, readApi } from '../api/client.ts';
import { useApi } from '../api/use-api.ts';
import { ErrorMessage, LoadingMessage } from '../components/status-message.tsx';

function formatMoney(cents: number, currency: string): string {
  return new Intl.NumberFormat(undefined, { style: 'currency', currency: currency.toUpperCase() }).format(
    cents / 100,
  );
}

export function EarningsPanel({ channelId, channelName }: { channelId: string; channelName: string }) {
  const earnings = useApi(`/payments/channels/${channelId}/earnings`, (options) =>
    readApi(
      api.payments.channels[':id'].earnings.$get({ param: { id: encodeURIComponent(channelId) } }, options),
    ),
  );
  const overlayUrl = `${window.location.origin}/overlay/alerts/${encodeURIComponent(channelName)}`;
  if (earnings.error !== undefined) return <ErrorMessage error={earnings.error} />;
  const data = earnings.data;
  if (!data) return <LoadingMessage />;
  return (
    <div className="earnings">
      <dl>
        <dt>
          Subscriptions ({data.revenue_share_percent}% of{' '}
          {formatMoney(data.subscriptions_gross_cents, data.currency)})
        </dt>
        <dd data-testid="earnings-subs">{formatMoney(data.subscriptions_share_cents, data.currency)}</dd>
        <dt>Bits ({data.bits_cheered} cheered)</dt>
        <dd data-testid="earnings-bits">{formatMoney(data.bits_cents, data.currency)}</dd>
        <dt>Tips</dt>
        <dd data-testid="earnings-tips">{formatMoney(data.tips_cents, data.currency)}</dd>
        <dt>Total</dt>
        <dd data-testid="earnings-total">{formatMoney(data.total_cents, data.currency)}</dd>
      </dl>
      <p>
        Alerts overlay for OBS (browser source): <code>{overlayUrl}</code>
      </p>
    </div>
  );
}
