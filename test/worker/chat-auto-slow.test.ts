// Chat that adapts when a stream goes viral (durable-objects/chat/auto-slow.ts): slow mode comes on
// by itself at the streamer's threshold and goes off after the crowd calms down; a moderator's hand
// wins; each viewer's sampling threshold is the streamer's to set (chat/sampling.ts).
import { describe, expect, it } from 'vitest';
import { AutoSlowMode, CALM_MS, MEASURE_WINDOW_MS } from '../../durable-objects/chat/auto-slow.ts';
import { BatchPayloads } from '../../durable-objects/chat/batch-payloads.ts';
import type { FanoutEvent } from '../../durable-objects/chat/types.ts';
import { callApi } from './api-helpers.ts';
import { buildMessage, describeChannel, openJson, seedUser } from './chat-fixtures.ts';

const settings = (over: Partial<Parameters<AutoSlowMode['decide']>[1]> = {}) => ({
  auto_slow_messages_per_second: 10,
  auto_slow_seconds: 5,
  auto_slow_active: false,
  slow_seconds: 0,
  ...over,
});

function send(mode: AutoSlowMode, count: number): void {
  for (let i = 0; i < count; i++) mode.observe();
}

describe('the automatic slow mode rule', () => {
  it('decides once per window: on at the threshold, not below it, and never over a slow mode a person set', () => {
    const mode = new AutoSlowMode(0);
    send(mode, 1000);
    expect(mode.decide(MEASURE_WINDOW_MS - 1, settings())).toEqual({ kind: 'none' });
    expect(mode.decide(MEASURE_WINDOW_MS, settings())).toMatchObject({ kind: 'enable', rate: 200 });

    const below = new AutoSlowMode(0);
    send(below, 49); // 9.8 a second
    expect(below.decide(MEASURE_WINDOW_MS, settings())).toEqual({ kind: 'none' });

    const manual = new AutoSlowMode(0);
    send(manual, 1000);
    expect(manual.decide(MEASURE_WINDOW_MS, settings({ slow_seconds: 30 }))).toEqual({ kind: 'none' });
    const off = new AutoSlowMode(0);
    send(off, 1000);
    expect(off.decide(MEASURE_WINDOW_MS, settings({ auto_slow_messages_per_second: 0 }))).toEqual({
      kind: 'none',
    });
  });

  it('turns off only after a full calm period below half the threshold, and at once when the rule is switched off', () => {
    const active = settings({ auto_slow_active: true, slow_seconds: 5 });
    const mode = new AutoSlowMode(0);
    let now = 0;
    const windowWith = (count: number) => {
      send(mode, count);
      now += MEASURE_WINDOW_MS;
      return mode.decide(now, active);
    };
    // Still at half the threshold: stays on.
    expect(windowWith(25)).toEqual({ kind: 'none' });
    // Calm, but not for CALM_MS yet; a busy window in between restarts the calm.
    expect(windowWith(0)).toEqual({ kind: 'none' });
    expect(windowWith(30)).toEqual({ kind: 'none' });
    const calmWindows = CALM_MS / MEASURE_WINDOW_MS;
    for (let i = 1; i < calmWindows; i++) expect(windowWith(1)).toEqual({ kind: 'none' });
    expect(windowWith(1)).toMatchObject({ kind: 'disable' });

    const switched = new AutoSlowMode(0);
    expect(
      switched.decide(
        MEASURE_WINDOW_MS,
        settings({ auto_slow_active: true, auto_slow_messages_per_second: 0 }),
      ),
    ).toMatchObject({ kind: 'disable' });
  });
});

describe('automatic slow mode in a room', () => {
  it('turns slow mode on for everyone when chat runs past the threshold, and a moderator taking over ends the rule', async () => {
    const owner = await seedUser('own');
    const set = await callApi(`/channels/${owner.channelId}/chat/settings`, {
      method: 'PATCH',
      token: owner.token,
      body: { auto_slow_messages_per_second: 1, auto_slow_seconds: 7 },
    });
    expect(set.status).toBe(200);
    const watcher = await openJson(owner.channelId);
    const chatters = await Promise.all(Array.from({ length: 12 }, () => seedUser('c')));
    const sockets = await Promise.all(chatters.map((c) => openJson(owner.channelId, c.token)));
    // 12 messages over about 6 s: past 1 a second over the rule's 5 s window.
    for (const [i, socket] of sockets.entries()) {
      socket.say(owner.channelId, `hype ${i}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const state = await watcher.next('room_state', (f) => f.slow_seconds === 7, 15_000);
    expect(state.slow_seconds).toBe(7);
    await watcher.next('notice', (f) => f.code === 'slow_on');
    const read = await callApi(`/channels/${owner.channelId}/chat/settings`, { token: owner.token });
    expect(await read.json()).toMatchObject({ slow_seconds: 7, auto_slow_active: true });
    // Anyone may read the modes, not the thresholds.
    const anonymous = (await (await callApi(`/channels/${owner.channelId}/chat/settings`)).json()) as object;
    expect(anonymous).toMatchObject({ slow_seconds: 7 });
    expect(anonymous).not.toHaveProperty('auto_slow_messages_per_second');

    const manual = await callApi(`/channels/${owner.channelId}/chat/settings`, {
      method: 'PATCH',
      token: owner.token,
      body: { slow_seconds: 0 },
    });
    expect(await manual.json()).toMatchObject({ slow_seconds: 0, auto_slow_active: false });
    // The flag is the room's to set: a client's copy is dropped.
    const forged = await callApi(`/channels/${owner.channelId}/chat/settings`, {
      method: 'PATCH',
      token: owner.token,
      body: { auto_slow_active: true },
    });
    expect(await forged.json()).toMatchObject({ auto_slow_active: false });
  }, 30_000);

  it("samples each viewer's chat at the channel's own threshold", async () => {
    const owner = await seedUser('own');
    const events: FanoutEvent[] = Array.from({ length: 100 }, (_, i) => ({
      kind: 'message',
      message: buildMessage(owner.channelId, { ...owner, id: `chatter-${i}` }, `m${i}`),
      priority: false,
    }));
    const count = (samplePerSecond?: number) => {
      const batch = {
        channel: describeChannel(owner),
        windowMs: 1000,
        events,
        ...(samplePerSecond === undefined ? {} : { samplePerSecond }),
      };
      const payloads = new BatchPayloads(batch, {
        renderJson: (event) => JSON.stringify(event.kind === 'message' ? event.message : {}),
        renderIrc: () => null,
      });
      const payload = payloads.payloadFor({ protocol: 'json', userId: null }) ?? '';
      return [...payload.matchAll(/"content":"m\d+"/g)].length;
    };
    expect(count()).toBe(20);
    expect(count(5)).toBe(5);
    expect(count(50)).toBe(50);
  });
});
