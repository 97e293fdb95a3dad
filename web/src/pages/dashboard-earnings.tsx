// The dashboard's earnings panel (docs/payments.md): subscriptions at the configured revenue share,
// bits cheered, tips, ad impressions, the ad break button and the alerts overlay's URL for OBS.
import { useState } from 'react';
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
        <dt>Ad impressions</dt>
        <dd data-testid="earnings-ad-impressions">{data.ad_impressions}</dd>
      </dl>
      <AdBreakControl channelId={channelId} />
      <p>
        Alerts overlay for OBS (browser source): <code>{overlayUrl}</code>
      </p>
    </div>
  );
}

const AD_BREAK_LENGTHS = [30, 60, 90, 180] as const;

/** Starts an ad break on the live stream: players show it as an HLS interstitial; subscribers skip it. */
function AdBreakControl({ channelId }: { channelId: string }) {
  const [seconds, setSeconds] = useState<(typeof AD_BREAK_LENGTHS)[number]>(30);
  const [status, setStatus] = useState('');
  const start = async () => {
    setStatus('Starting…');
    try {
      await readApi(
        api.payments.channels[':id']['ad-breaks'].$post({
          param: { id: encodeURIComponent(channelId) },
          json: { duration_seconds: seconds },
        }),
      );
      setStatus(`Ad break of ${seconds} s started`);
    } catch (error) {
      setStatus(error instanceof Error ? error.message : 'The ad break could not start');
    }
  };
  return (
    <p>
      <label>
        Ad break{' '}
        <select
          value={seconds}
          onChange={(event) => {
            const next = AD_BREAK_LENGTHS.find((length) => String(length) === event.target.value);
            if (next) setSeconds(next);
          }}
        >
          {AD_BREAK_LENGTHS.map((length) => (
            <option key={length} value={length}>
              {length} s
            </option>
          ))}
        </select>
      </label>{' '}
      <button type="button" onClick={() => void start()}>
        Run ad
      </button>{' '}
      <span role="status" data-testid="ad-break-status">
        {status}
      </span>
    </p>
  );
}
