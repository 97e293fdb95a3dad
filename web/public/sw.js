// The service worker: shows the platform's Web Push messages ("X is live") while no tab is open,
// and opens the channel when one is clicked. The payload is what workers/notifications/push-fanout.ts
// sends: {kind, title, body, url, channel_id, stream_id}; only same-origin paths are opened.
self.addEventListener('push', (event) => {
  let message = {};
  try {
    message = event.data ? event.data.json() : {};
  } catch {
    message = {};
  }
  const title = typeof message.title === 'string' ? message.title : 'edgestream';
  const url =
    typeof message.url === 'string' && message.url.startsWith('/') && !message.url.startsWith('//')
      ? message.url
      : '/';
  event.waitUntil(
    self.registration.showNotification(title, {
      body: typeof message.body === 'string' ? message.body : '',
      tag: typeof message.channel_id === 'string' ? `live-${message.channel_id}` : 'edgestream',
      data: { url },
    }),
  );
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = new URL(event.notification.data?.url ?? '/', self.location.origin).href;
  event.waitUntil(
    self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((windows) => {
      for (const client of windows) {
        if (client.url === url && 'focus' in client) return client.focus();
      }
      return self.clients.openWindow(url);
    }),
  );
});
