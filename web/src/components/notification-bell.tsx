// The bell in the header: the unread count of "went live" notifications, a list of the latest, and
// the switch for push notifications in this browser (web/src/push/browser-push.ts). The count is
// polled once a minute while the tab is visible, and on opening the list.
import { useCallback, useEffect, useRef, useState } from 'react';
import { Link } from 'react-router';
import { api, readApi } from '../api/client.ts';
import { useBrowserPush } from '../push/browser-push.ts';
import { formatDate } from './format.ts';
import { BellIcon } from './icons.tsx';
import { ErrorMessage } from './status-message.tsx';

const POLL_MS = 60_000;
const LISTED = 10;

type Inbox = Awaited<ReturnType<typeof loadInbox>>;

function loadInbox(signal?: AbortSignal) {
  return readApi(
    api.notifications.$get({ query: { limit: String(LISTED) } }, signal ? { init: { signal } } : undefined),
  );
}

export function NotificationBell() {
  const [inbox, setInbox] = useState<Inbox | undefined>(undefined);
  const [open, setOpen] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const panel = useRef<HTMLDivElement>(null);
  const push = useBrowserPush();

  const refresh = useCallback((signal?: AbortSignal) => {
    loadInbox(signal).then(
      (value) => {
        setInbox(value);
        setError(undefined);
      },
      (failure: unknown) => {
        if (!signal?.aborted) setError(failure);
      },
    );
  }, []);

  useEffect(() => {
    const controller = new AbortController();
    refresh(controller.signal);
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') refresh(controller.signal);
    }, POLL_MS);
    return () => {
      controller.abort();
      clearInterval(timer);
    };
  }, [refresh]);

  useEffect(() => {
    if (!open) return;
    const close = (event: MouseEvent) => {
      if (panel.current && !panel.current.contains(event.target as Node)) setOpen(false);
    };
    const closeOnEscape = (event: KeyboardEvent) => {
      if (event.key === 'Escape') setOpen(false);
    };
    document.addEventListener('mousedown', close);
    document.addEventListener('keydown', closeOnEscape);
    return () => {
      document.removeEventListener('mousedown', close);
      document.removeEventListener('keydown', closeOnEscape);
    };
  }, [open]);

  const markRead = (ids?: string[]) => {
    readApi(api.notifications.read.$post({ json: ids ? { ids } : {} })).then(
      () => refresh(),
      (failure: unknown) => setError(failure),
    );
  };

  const unread = inbox?.unread ?? 0;
  return (
    <div className="notification-bell" ref={panel}>
      <button
        type="button"
        className="bell-button"
        aria-label={unread > 0 ? `Notifications, ${unread} unread` : 'Notifications'}
        aria-expanded={open}
        aria-haspopup="true"
        onClick={() => {
          if (!open) refresh();
          setOpen(!open);
        }}
      >
        <BellIcon />
        {unread > 0 ? (
          <span className="bell-count" data-testid="unread-count">
            {unread > 99 ? '99+' : unread}
          </span>
        ) : null}
      </button>
      {open ? (
        <div className="bell-panel" role="dialog" aria-label="Notifications">
          <div className="bell-panel-head">
            <strong>Notifications</strong>
            {unread > 0 ? (
              <button type="button" className="button-link" onClick={() => markRead()}>
                Mark all read
              </button>
            ) : null}
          </div>
          {error ? <ErrorMessage error={error} /> : null}
          {inbox && inbox.data.length === 0 ? <p className="muted">Nothing yet.</p> : null}
          <ul className="bell-list">
            {(inbox?.data ?? []).map((item) => (
              <li key={item.id} className={item.read_at === null ? 'unread' : undefined}>
                <Link
                  to={item.channel_name ? `/${item.channel_name}` : '/'}
                  onClick={() => {
                    setOpen(false);
                    if (item.read_at === null) markRead([item.id]);
                  }}
                >
                  <span>{item.message}</span>
                  <time dateTime={item.created_at}>{formatDate(item.created_at)}</time>
                </Link>
              </li>
            ))}
          </ul>
          {push.state !== 'unsupported' && push.state !== 'unconfigured' ? (
            <div className="bell-push">
              {push.state === 'subscribed' ? (
                <button
                  type="button"
                  className="button-secondary"
                  disabled={push.busy}
                  onClick={push.unsubscribe}
                >
                  Stop push notifications in this browser
                </button>
              ) : push.state === 'denied' ? (
                <p className="muted">Notifications are blocked for this site in the browser's settings.</p>
              ) : (
                <button
                  type="button"
                  className="button-primary"
                  disabled={push.busy}
                  onClick={push.subscribe}
                >
                  Notify me in this browser when channels go live
                </button>
              )}
              {push.error ? <ErrorMessage error={push.error} /> : null}
            </div>
          ) : null}
        </div>
      ) : null}
    </div>
  );
}
