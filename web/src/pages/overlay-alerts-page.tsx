// `/overlay/alerts/{channel}`: alerts for an OBS browser source (new sub, resub, gift, cheer, tip,
// raid). It polls the channel's alerts feed (GET /payments/channels/{id}/alerts, docs/payments.md)
// every 2 s and shows each alert in turn for a few seconds, on a transparent page like the chat
// overlay. Embeddable by any site: web/public/_headers frames /overlay/* for streaming tools.
import { useEffect, useState } from 'react';
import { useParams } from 'react-router';
import { api, readApi } from '../api/client.ts';
import { useApi } from '../api/use-api.ts';

const POLL_MS = 2000;
const SHOW_MS = 8000;
/** Alerts waiting to be shown; older ones are dropped when a flood of them arrives. */
const MAX_QUEUED = 20;

interface Alert {
  id: string;
  kind: 'sub' | 'resub' | 'gift' | 'cheer' | 'tip' | 'raid';
  user_login: string;
  amount: number;
  message: string;
  created_at: number;
}

function describeAlert(alert: Alert): string {
  switch (alert.kind) {
    case 'sub':
      return `${alert.user_login} just subscribed!`;
    case 'resub':
      return `${alert.user_login} resubscribed for ${alert.amount} months!`;
    case 'gift':
      return `${alert.user_login} gifted a sub to ${alert.message}!`;
    case 'cheer':
      return `${alert.user_login} cheered ${alert.amount} bits!`;
    case 'tip':
      return `${alert.user_login} tipped $${(alert.amount / 100).toFixed(2)}!`;
    case 'raid':
      return `${alert.user_login} is raiding with ${alert.amount} viewers!`;
  }
}

export function OverlayAlertsPage() {
  const name = useParams().channel ?? '';
  const channel = useApi(`/channels/${name}`, (options) =>
    readApi(api.channels[':id'].$get({ param: { id: encodeURIComponent(name) } }, options)),
  );
  const channelId = channel.data?.id ?? null;
  const [queue, setQueue] = useState<Alert[]>([]);

  useEffect(() => {
    document.documentElement.classList.add('overlay-mode');
    return () => document.documentElement.classList.remove('overlay-mode');
  }, []);

  useEffect(() => {
    if (!channelId) return;
    const controller = new AbortController();
    // Alerts from before the overlay opened are not replayed: OBS reloads it on every scene switch.
    let after = Date.now() - POLL_MS;
    const poll = () => {
      readApi(
        api.payments.channels[':id'].alerts.$get(
          { param: { id: channelId }, query: { after: String(after) } },
          { init: { signal: controller.signal } },
        ),
      ).then(
        (answer) => {
          const last = answer.data.at(-1);
          if (last) after = last.created_at;
          if (answer.data.length > 0) setQueue((current) => [...current, ...answer.data].slice(-MAX_QUEUED));
        },
        () => undefined,
      );
    };
    poll();
    const timer = window.setInterval(poll, POLL_MS);
    return () => {
      controller.abort();
      window.clearInterval(timer);
    };
  }, [channelId]);

  const current = queue[0];
  useEffect(() => {
    if (!current) return;
    const timer = window.setTimeout(() => setQueue((rest) => rest.slice(1)), SHOW_MS);
    return () => window.clearTimeout(timer);
  }, [current]);

  if (!current) return <div className="overlay-alerts" />;
  return (
    <div className="overlay-alerts">
      <div className={`overlay-alert overlay-alert-${current.kind}`} data-kind={current.kind} role="status">
        <p className="overlay-alert-title">{describeAlert(current)}</p>
        {current.message && current.kind !== 'gift' ? (
          <p className="overlay-alert-message">{current.message}</p>
        ) : null}
      </div>
    </div>
  );
}
