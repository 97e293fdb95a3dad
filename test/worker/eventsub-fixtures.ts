// What the EventSub workerd tests share: a WebSocket client that records frames, Helix calls with
// a client id and token, and a queue batch handed to the real consumer.
import { createExecutionContext, createMessageBatch, env, getQueueResult, SELF } from 'cloudflare:test';
import { expect } from 'vitest';
import { z } from 'zod';
import type { PlatformEvent } from '../../protocol/events.ts';
import { consumeQueueBatch } from '../../workers/queues/index.ts';
import { waitUntil } from './chat-fixtures.ts';

export const Frame = z.object({
  metadata: z.looseObject({
    message_id: z.string(),
    message_type: z.string(),
    message_timestamp: z.string(),
    subscription_type: z.string().optional(),
  }),
  payload: z.looseObject({}),
});
export type Frame = z.infer<typeof Frame>;

export class EventSubClient {
  readonly frames: Frame[] = [];
  closed: { code: number; reason: string } | null = null;
  readonly ws: WebSocket;
  constructor(ws: WebSocket) {
    this.ws = ws;
    ws.addEventListener('message', (event) => {
      this.frames.push(Frame.parse(JSON.parse(String(event.data))));
    });
    ws.addEventListener('close', (event) => {
      this.closed = { code: event.code, reason: event.reason };
    });
  }
  next(type: string, from = 0, timeoutMs = 3000): Promise<Frame> {
    return waitUntil(
      () => this.frames.slice(from).find((f) => f.metadata.message_type === type),
      timeoutMs,
      type,
    );
  }
  notifications(type: string): Frame[] {
    return this.frames.filter(
      (f) => f.metadata.message_type === 'notification' && f.metadata.subscription_type === type,
    );
  }
  sessionId(): string {
    const welcome = this.frames.find((f) => f.metadata.message_type === 'session_welcome');
    return z.object({ session: z.object({ id: z.string() }) }).parse(welcome?.payload).session.id;
  }
}

export async function connect(query = ''): Promise<EventSubClient> {
  const res = await SELF.fetch(`http://localhost/eventsub/ws${query}`, { headers: { Upgrade: 'websocket' } });
  expect(res.status).toBe(101);
  const ws = res.webSocket;
  if (!ws) throw new Error('no webSocket');
  const client = new EventSubClient(ws);
  ws.accept();
  await client.next('session_welcome');
  return client;
}

export function helix(
  path: string,
  token: string,
  clientId: string,
  init: { method?: string; body?: unknown } = {},
) {
  return SELF.fetch(`http://localhost/helix${path}`, {
    method: init.method ?? 'GET',
    headers: { Authorization: `Bearer ${token}`, 'Client-Id': clientId, 'Content-Type': 'application/json' },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
}

export async function deliver(queue: string, event: PlatformEvent) {
  const batch = createMessageBatch(queue, [
    { id: crypto.randomUUID(), timestamp: new Date(), attempts: 1, body: event },
  ]);
  await consumeQueueBatch(batch, env);
  return getQueueResult(batch, createExecutionContext());
}

export function websocketSub(
  type: string,
  version: string,
  condition: Record<string, string>,
  sessionId: string,
) {
  return { type, version, condition, transport: { method: 'websocket', session_id: sessionId } };
}
