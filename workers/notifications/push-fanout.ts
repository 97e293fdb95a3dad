// Web Push "went live" for a channel's followers, sent by the stream-events consumer. stream.started
// queues the first share (a notification.push event); each share reads at most PUSHES_PER_MESSAGE
// subscriptions of followers who left notifications on for the channel, queues the next share
// before it sends, and sends them PUSH_CONCURRENCY at a time. So one queue message makes a bounded
// number of subrequests (50 messages a batch × 15 is under the Workers limit of 1,000), whatever the
// channel's size.
//
// Every share's event id is derived from (stream, cursor): a share queued twice (a retried
// stream.started, a retried share) is one event to the consumer's dedupe. Delivery is best effort,
// as Web Push itself is: a push service's refusal or time-out is logged and not retried (the
// in-app notification is there either way), and a retried share that sends again is collapsed by
// the push service through the Topic header (RFC 8030 section 5.4) while still undelivered.
import { encodeHex } from '../../common/hashing.ts';
import { log } from '../../common/log.ts';
import { createEvent, type EventOf } from '../../protocol/events.ts';
import type { EventHandler } from '../queues/consume.ts';
import { publishEvent } from '../shared/events.ts';
import { checkPushEndpoint, decodePushKeys } from './push-endpoints.ts';
import { buildPushRequest, loadVapidKeys, MAX_PUSH_PLAINTEXT_BYTES, type VapidKeys } from './web-push.ts';

export const PUSHES_PER_MESSAGE = 15;
/** Workers keep at most 6 connections open at once per invocation; more would only queue. */
const PUSH_CONCURRENCY = 6;
const PUSH_TIMEOUT_MS = 10_000;
/** A "went live" is worth showing for the first hours of a stream, not after. */
const WENT_LIVE_TTL_SECONDS = 4 * 3600;
const MAX_TITLE_CHARS = 140;

/** How the consumer reaches a push service: fetch in production, a stand-in in tests. */
export type PushTransport = (request: Request) => Promise<Response>;

const pushLog = log.child({ component: 'web-push' });
const encoder = new TextEncoder();

interface PushTarget {
  id: string;
  user_id: string;
  endpoint: string;
  p256dh: string;
  auth: string;
}

/** A UUID (version 8, RFC 9562 section 5.8) that names one share of one stream's fan-out. */
async function shareEventId(
  streamId: string,
  afterUserId: string,
  afterSubscriptionId: string,
): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest(
      'SHA-256',
      encoder.encode(`push\0${streamId}\0${afterUserId}\0${afterSubscriptionId}`),
    ),
  ).subarray(0, 16);
  digest[6] = ((digest[6] ?? 0) & 0x0f) | 0x80;
  digest[8] = ((digest[8] ?? 0) & 0x3f) | 0x80;
  const hex = encodeHex(digest);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

async function queueShare(
  env: Env,
  streamId: string,
  channelId: string,
  occurredAt: number,
  afterUserId: string,
  afterSubscriptionId: string,
): Promise<void> {
  const id = await shareEventId(streamId, afterUserId, afterSubscriptionId);
  await publishEvent(
    env.STREAM_EVENTS,
    createEvent(
      'notification.push',
      {
        stream_id: streamId,
        channel_id: channelId,
        after_user_id: afterUserId,
        after_subscription_id: afterSubscriptionId,
      },
      occurredAt,
      id,
    ),
  );
}

/** Called for stream.started: queues the first share of the push fan-out (once per stream). */
export async function queueWentLivePushes(env: Env, event: EventOf<'stream.started'>): Promise<void> {
  await queueShare(env, event.stream_id, event.channel_id, event.occurred_at, '', '');
}

async function sendPush(
  transport: PushTransport,
  vapid: VapidKeys,
  target: PushTarget,
  payload: Uint8Array,
  topic: string,
  now: number,
): Promise<'sent' | 'gone' | 'failed'> {
  const endpoint = checkPushEndpoint(target.endpoint);
  const keys = await decodePushKeys(target.p256dh, target.auth);
  // Stored before a rule tightened: never sent to, and dropped.
  if (!endpoint.ok || !keys) return 'gone';
  const request = await buildPushRequest(
    endpoint.url,
    keys,
    { payload, ttlSeconds: WENT_LIVE_TTL_SECONDS, topic, urgency: 'normal' },
    vapid,
    now,
  );
  try {
    const response = await transport(new Request(request, { signal: AbortSignal.timeout(PUSH_TIMEOUT_MS) }));
    await response.body?.cancel();
    // RFC 8030 section 5: 201 Created is a push accepted; section 7.3: 404/410, the subscription is gone.
    if (response.status >= 200 && response.status < 300) return 'sent';
    if (response.status === 404 || response.status === 410) return 'gone';
    pushLog.warn('push_refused', {
      subscription_id: target.id,
      status: response.status,
      host: endpoint.url.host,
    });
    return 'failed';
  } catch (error) {
    pushLog.warn('push_failed', { subscription_id: target.id, host: endpoint.url.host, error });
    return 'failed';
  }
}

/** The notification.push handler: one share of a stream's fan-out. */
export function createPushFanoutHandler(transport: PushTransport): EventHandler<'notification.push'> {
  return async (event, env) => {
    const vapid = await loadVapidKeys(env);
    if (!vapid) {
      pushLog.info('push_not_configured', { stream_id: event.stream_id });
      return [];
    }
    const db = env.DB;
    const stream = await db
      .prepare(
        `SELECT c.name, c.display_name, s.title, s.status FROM channels c
         JOIN streams s ON s.channel_id = c.id AND s.id = ?2 WHERE c.id = ?1`,
      )
      .bind(event.channel_id, event.stream_id)
      .first<{ name: string; display_name: string; title: string; status: string }>();
    // A share that runs after the stream ended would announce a stream that is over.
    if (!stream || stream.status === 'ended') return [];
    const { results } = await db
      .prepare(
        `SELECT p.id, p.user_id, p.endpoint, p.p256dh, p.auth FROM follows f
         JOIN push_subscriptions p ON p.user_id = f.user_id
         WHERE f.channel_id = ?1 AND f.notifications = 1 AND f.user_id >= ?2
           AND (p.user_id, p.id) > (?2, ?3)
         ORDER BY p.user_id, p.id LIMIT ?4`,
      )
      .bind(event.channel_id, event.after_user_id, event.after_subscription_id, PUSHES_PER_MESSAGE)
      .all<PushTarget>();
    const last = results.at(-1);
    if (!last) return [];
    if (results.length === PUSHES_PER_MESSAGE) {
      await queueShare(env, event.stream_id, event.channel_id, event.occurred_at, last.user_id, last.id);
    }
    const title = [...stream.title].slice(0, MAX_TITLE_CHARS).join('');
    const payload = encoder.encode(
      JSON.stringify({
        kind: 'stream.live',
        title: `${stream.display_name} is live`,
        body: title,
        url: `/${stream.name}`,
        channel_id: event.channel_id,
        stream_id: event.stream_id,
      }),
    );
    if (payload.length > MAX_PUSH_PLAINTEXT_BYTES) throw new Error('went-live payload over the push limit');
    // One topic per channel: a newer "went live" replaces an older one still waiting for the browser.
    const topic = encodeHex(
      new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(event.channel_id))),
    ).slice(0, 32);
    const now = Date.now();
    const gone: string[] = [];
    let sent = 0;
    for (let start = 0; start < results.length; start += PUSH_CONCURRENCY) {
      const outcomes = await Promise.all(
        results.slice(start, start + PUSH_CONCURRENCY).map(async (target) => ({
          target,
          outcome: await sendPush(transport, vapid, target, payload, topic, now),
        })),
      );
      for (const { target, outcome } of outcomes) {
        if (outcome === 'gone') gone.push(target.id);
        if (outcome === 'sent') sent += 1;
      }
    }
    pushLog.info('push_share_sent', {
      stream_id: event.stream_id,
      channel_id: event.channel_id,
      sent,
      gone: gone.length,
      failed: results.length - sent - gone.length,
    });
    return gone.length === 0
      ? []
      : [
          db
            .prepare('DELETE FROM push_subscriptions WHERE id IN (SELECT value FROM json_each(?))')
            .bind(JSON.stringify(gone)),
        ];
  };
}
