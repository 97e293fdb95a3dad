// Web Push in this browser: registers the service worker (web/public/sw.js), subscribes with the
// server's VAPID key (GET /notifications/push/key) and hands the subscription to the API, which
// sends "went live" to it from the queue consumer. The state says what the bell can offer.
import { useCallback, useEffect, useState } from 'react';
import { api, readApi } from '../api/client.ts';

export type PushState = 'unsupported' | 'unconfigured' | 'denied' | 'off' | 'subscribed' | 'loading';

function isSupported(): boolean {
  return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

function decodeKey(base64url: string): Uint8Array<ArrayBuffer> {
  const plain = base64url.replaceAll('-', '+').replaceAll('_', '/');
  const binary = atob(plain + '='.repeat((4 - (plain.length % 4)) % 4));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

async function readServerKey(): Promise<string | null> {
  try {
    return (await readApi(api.notifications.push.key.$get())).public_key;
  } catch {
    return null;
  }
}

/** The browser's push subscription as the API takes it (PushSubscription.toJSON()). */
function toSubscriptionBody(subscription: PushSubscription) {
  const json = subscription.toJSON();
  return {
    endpoint: subscription.endpoint,
    keys: { p256dh: json.keys?.p256dh ?? '', auth: json.keys?.auth ?? '' },
  };
}

export function useBrowserPush() {
  const [state, setState] = useState<PushState>(isSupported() ? 'loading' : 'unsupported');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);

  useEffect(() => {
    if (!isSupported()) return;
    let cancelled = false;
    (async () => {
      const key = await readServerKey();
      if (key === null) return 'unconfigured' as const;
      if (Notification.permission === 'denied') return 'denied' as const;
      const registration = await navigator.serviceWorker.getRegistration('/');
      const subscription = await registration?.pushManager.getSubscription();
      return subscription ? ('subscribed' as const) : ('off' as const);
    })().then(
      (next) => {
        if (!cancelled) setState(next);
      },
      () => {
        if (!cancelled) setState('off');
      },
    );
    return () => {
      cancelled = true;
    };
  }, []);

  const subscribe = useCallback(() => {
    setBusy(true);
    setError(undefined);
    (async () => {
      const key = await readServerKey();
      if (key === null) return 'unconfigured' as const;
      if ((await Notification.requestPermission()) !== 'granted') return 'denied' as const;
      const registration = await navigator.serviceWorker.register('/sw.js', { scope: '/' });
      await navigator.serviceWorker.ready;
      const subscription = await registration.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: decodeKey(key),
      });
      await readApi(api.notifications.push.subscriptions.$post({ json: toSubscriptionBody(subscription) }));
      return 'subscribed' as const;
    })().then(
      (next) => {
        setState(next);
        setBusy(false);
      },
      (failure: unknown) => {
        setError(failure);
        setBusy(false);
      },
    );
  }, []);

  const unsubscribe = useCallback(() => {
    setBusy(true);
    setError(undefined);
    (async () => {
      const registration = await navigator.serviceWorker.getRegistration('/');
      const subscription = await registration?.pushManager.getSubscription();
      if (subscription) {
        await readApi(
          api.notifications.push.subscriptions.$delete({ json: { endpoint: subscription.endpoint } }),
        ).catch(() => undefined);
        await subscription.unsubscribe();
      }
    })().then(
      () => {
        setState('off');
        setBusy(false);
      },
      (failure: unknown) => {
        setError(failure);
        setBusy(false);
      },
    );
  }, []);

  return { state, busy, error, subscribe, unsubscribe };
}
