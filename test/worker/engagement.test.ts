// Channel engagement through the real Worker, ChannelEngagement object and chat fan-out
// (docs/engagement.md): points earned only by watching, rewards and the redemption queue, polls and
// predictions, and every bad input the issue names: votes after close, double votes, double
// redemptions, points below zero, stakes over the balance, resolve twice, cancel after resolve, a
// non-moderator starting a poll, malformed and oversized bodies. Each attack is performed and the
// ledger is audited after it: nothing lost, nothing paid twice.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { callApi, readError } from './api-helpers.ts';
import { goLive, grantRole, openJson, type SeededUser, seedUser } from './chat-fixtures.ts';
import { advanceClock, getEngagementStub, grantPoints } from './engagement-fixtures.ts';

const Points = z.object({
  balance: z.number(),
  bonus_claimable: z.boolean(),
  poll_choice_id: z.string().nullable(),
  prediction: z.object({ outcome_id: z.string(), points: z.number() }).nullable(),
});
const Poll = z.object({
  id: z.string(),
  status: z.enum(['active', 'ended']),
  choices: z.array(z.object({ id: z.string(), title: z.string(), votes: z.number() })),
  ended_at: z.string().nullable(),
});
const Prediction = z.object({
  id: z.string(),
  status: z.string(),
  outcomes: z.array(z.object({ id: z.string(), title: z.string(), users: z.number(), points: z.number() })),
  winning_outcome_id: z.string().nullable(),
});
const Reward = z.object({ id: z.string(), cost: z.number() });
const Redemption = z.object({ id: z.string(), status: z.string() });
const RedeemResult = z.object({ redemption: Redemption, balance: z.number() });

const stub = getEngagementStub;
const grant = grantPoints;
const advance = advanceClock;

async function balanceOf(channelId: string, user: SeededUser): Promise<number> {
  const res = await callApi(`/channels/${channelId}/points`, { token: user.token });
  expect(res.status).toBe(200);
  return Points.parse(await res.json()).balance;
}

async function expectLedgerSound(channelId: string): Promise<void> {
  const audit = await stub(channelId).auditLedger();
  expect(audit).toEqual({ entrySum: 0, balanceSum: 0, negativeAccounts: [], driftedAccounts: [] });
}

function post(path: string, token: string, body?: unknown) {
  return callApi(path, { method: 'POST', token, ...(body === undefined ? {} : { body }) });
}

const requestId = () => crypto.randomUUID();

async function presence(channelId: string, token: string): Promise<number> {
  const res = await callApi(`/channels/${channelId}/presence`, {
    method: 'POST',
    token,
    body: { viewer_id: crypto.randomUUID().replaceAll('-', '') },
  });
  return res.status;
}

describe('channel points are earned by watching', () => {
  it('pays 10 points per 5 minutes of player presence, nothing to a chat-only bot, nothing across a gap', async () => {
    const owner = await seedUser('own');
    const viewer = await seedUser('v');
    const bot = await seedUser('bot');
    await goLive(owner.channelId);
    // The bot holds a signed-in chat socket the whole time but plays no video.
    const botSocket = await openJson(owner.channelId, bot.token);
    // 9 signals 40 s apart: 320 s watched, one interval paid.
    for (let n = 0; n < 9; n++) {
      expect(await presence(owner.channelId, viewer.token)).toBe(200);
      await advance(owner.channelId, 40_000);
    }
    expect(await balanceOf(owner.channelId, viewer)).toBe(10);
    expect(await balanceOf(owner.channelId, bot)).toBe(0);
    // A gap longer than the presence TTL (a closed tab) is not watch time.
    await advance(owner.channelId, 10 * 60_000);
    expect(await presence(owner.channelId, viewer.token)).toBe(200);
    expect(await balanceOf(owner.channelId, viewer)).toBe(10);
    botSocket.close();
    await expectLedgerSound(owner.channelId);
  });

  it('makes one bonus claimable per 15 minutes watched and pays it once', async () => {
    const owner = await seedUser('own');
    const viewer = await seedUser('v');
    await goLive(owner.channelId);
    const claim = () => post(`/channels/${owner.channelId}/points/claim`, viewer.token);
    expect((await claim()).status).toBe(409);
    for (let n = 0; n <= 23; n++) {
      await stub(owner.channelId).recordWatch(owner.channelId, viewer.id);
      await advance(owner.channelId, 40_000);
    }
    const before = await balanceOf(owner.channelId, viewer);
    const res = await claim();
    expect(res.status).toBe(200);
    expect(Points.parse(await res.json())).toMatchObject({ balance: before + 50, bonus_claimable: false });
    const again = await claim();
    expect(again.status).toBe(409);
    expect(await balanceOf(owner.channelId, viewer)).toBe(before + 50);
    await expectLedgerSound(owner.channelId);
  });

  it('refuses points to anyone not signed in', async () => {
    const owner = await seedUser('own');
    expect((await callApi(`/channels/${owner.channelId}/points`)).status).toBe(401);
    expect((await callApi(`/channels/${owner.channelId}/points/claim`, { method: 'POST' })).status).toBe(401);
    expect((await callApi('/channels/no-such-channel/engagement')).status).toBe(404);
  });
});

async function createReward(owner: SeededUser, body: Record<string, unknown>) {
  const res = await post(`/channels/${owner.channelId}/rewards`, owner.token, body);
  expect(res.status).toBe(201);
  return Reward.parse(await res.json());
}

describe('custom rewards and the redemption queue', () => {
  it('debits once per request id, queues the redemption for moderators, and refunds a rejection exactly once', async () => {
    const owner = await seedUser('own');
    const viewer = await seedUser('v');
    const mod = await seedUser('mod');
    await grantRole(owner.channelId, mod.id, 'moderator');
    const chat = await openJson(owner.channelId);
    const reward = await createReward(owner, { title: 'Hydrate', cost: 100 });
    await grant(owner.channelId, viewer.id, 250);
    const redeemPath = `/channels/${owner.channelId}/rewards/${reward.id}/redemptions`;
    const id = requestId();
    const first = await post(redeemPath, viewer.token, { request_id: id });
    expect(first.status).toBe(201);
    const redeemed = RedeemResult.parse(await first.json());
    expect(redeemed).toMatchObject({ balance: 150, redemption: { status: 'pending' } });
    // The same request again (a retry, a double click): the same redemption, no second debit.
    const again = await post(redeemPath, viewer.token, { request_id: id });
    expect(again.status).toBe(200);
    expect(RedeemResult.parse(await again.json())).toEqual(redeemed);
    expect(await balanceOf(owner.channelId, viewer)).toBe(150);
    await chat.next('redemption', (frame) => frame.redemption.id === redeemed.redemption.id);
    // The queue: moderators see it, a viewer does not.
    expect((await callApi(`/channels/${owner.channelId}/redemptions`, { token: viewer.token })).status).toBe(
      403,
    );
    const queue = await callApi(`/channels/${owner.channelId}/redemptions`, { token: mod.token });
    expect(
      z
        .object({ data: z.array(Redemption) })
        .parse(await queue.json())
        .data.map((r) => r.id),
    ).toEqual([redeemed.redemption.id]);
    const decide = (status: string) =>
      post(`/channels/${owner.channelId}/redemptions/${redeemed.redemption.id}`, mod.token, { status });
    expect((await decide('canceled')).status).toBe(200);
    expect(await balanceOf(owner.channelId, viewer)).toBe(250);
    // Rejected twice, or fulfilled after the rejection: a conflict, never a second refund.
    expect((await decide('canceled')).status).toBe(409);
    expect((await decide('fulfilled')).status).toBe(409);
    expect(await balanceOf(owner.channelId, viewer)).toBe(250);
    chat.close();
    await expectLedgerSound(owner.channelId);
  });

  it('never lets a balance go below zero', async () => {
    const owner = await seedUser('own');
    const viewer = await seedUser('v');
    const reward = await createReward(owner, { title: 'Big one', cost: 500 });
    await grant(owner.channelId, viewer.id, 499);
    const res = await post(`/channels/${owner.channelId}/rewards/${reward.id}/redemptions`, viewer.token, {
      request_id: requestId(),
    });
    expect(res.status).toBe(422);
    expect((await readError(res)).code).toBe('insufficient_points');
    expect(await balanceOf(owner.channelId, viewer)).toBe(499);
    await expectLedgerSound(owner.channelId);
  });

  it('enforces input, pauses, per-user-per-stream limits and the global cooldown', async () => {
    const owner = await seedUser('own');
    const viewer = await seedUser('v');
    await goLive(owner.channelId);
    await grant(owner.channelId, viewer.id, 1000);
    const asked = await createReward(owner, { title: 'Song request', cost: 10, prompt: 'Which song?' });
    const path = (reward: { id: string }) => `/channels/${owner.channelId}/rewards/${reward.id}/redemptions`;
    expect((await post(path(asked), viewer.token, { request_id: requestId() })).status).toBe(422);
    expect(
      (await post(path(asked), viewer.token, { request_id: requestId(), input: 'x'.repeat(201) })).status,
    ).toBe(400);
    expect(
      (await post(path(asked), viewer.token, { request_id: requestId(), input: 'Never gonna' })).status,
    ).toBe(201);
    const once = await createReward(owner, { title: 'Once', cost: 10, max_per_user_per_stream: 1 });
    expect((await post(path(once), viewer.token, { request_id: requestId() })).status).toBe(201);
    expect((await post(path(once), viewer.token, { request_id: requestId() })).status).toBe(409);
    const slow = await createReward(owner, { title: 'Slow', cost: 10, cooldown_seconds: 60 });
    expect((await post(path(slow), viewer.token, { request_id: requestId() })).status).toBe(201);
    const cooling = await post(path(slow), viewer.token, { request_id: requestId() });
    expect(cooling.status).toBe(429);
    expect(Number(cooling.headers.get('Retry-After'))).toBeGreaterThan(0);
    await advance(owner.channelId, 61_000);
    expect((await post(path(slow), viewer.token, { request_id: requestId() })).status).toBe(201);
    const paused = await callApi(`/channels/${owner.channelId}/rewards/${slow.id}`, {
      method: 'PATCH',
      token: owner.token,
      body: { enabled: false },
    });
    expect(paused.status).toBe(200);
    await advance(owner.channelId, 61_000);
    expect((await post(path(slow), viewer.token, { request_id: requestId() })).status).toBe(409);
    expect(await balanceOf(owner.channelId, viewer)).toBe(1000 - 40);
    await expectLedgerSound(owner.channelId);
  });

  it('lets only the broadcaster manage rewards, with bounded bodies', async () => {
    const owner = await seedUser('own');
    const mod = await seedUser('mod');
    await grantRole(owner.channelId, mod.id, 'moderator');
    const path = `/channels/${owner.channelId}/rewards`;
    expect((await post(path, mod.token, { title: 'Mine', cost: 1 })).status).toBe(403);
    expect((await post(path, owner.token, { title: '', cost: 1 })).status).toBe(400);
    expect((await post(path, owner.token, { title: 'x'.repeat(46), cost: 1 })).status).toBe(400);
    expect((await post(path, owner.token, { title: 'Free', cost: 0 })).status).toBe(400);
    expect((await post(path, owner.token, { title: 'Neg', cost: -5 })).status).toBe(400);
    expect((await post(path, owner.token, { title: 'Extra', cost: 5, admin: true })).status).toBe(400);
    const malformed = await callApi(path, { method: 'POST', token: owner.token, rawBody: '{"title": "x", ' });
    expect(malformed.status).toBe(400);
    const huge = await callApi(path, {
      method: 'POST',
      token: owner.token,
      rawBody: JSON.stringify({ title: 'x', cost: 1, prompt: 'y'.repeat(70_000) }),
    });
    expect(huge.status).toBe(413);
    expect((await readError(huge)).code).toBe('payload_too_large');
    const reward = await createReward(owner, { title: 'Fine', cost: 1 });
    const del = await callApi(`${path}/${reward.id}`, { method: 'DELETE', token: mod.token });
    expect(del.status).toBe(403);
    expect((await callApi(`${path}/${reward.id}`, { method: 'DELETE', token: owner.token })).status).toBe(
      204,
    );
    expect((await callApi(`${path}/${reward.id}`, { method: 'DELETE', token: owner.token })).status).toBe(
      404,
    );
  });
});

async function startPoll(actor: SeededUser, channelId: string, body: Record<string, unknown>) {
  const res = await post(`/channels/${channelId}/polls`, actor.token, body);
  expect(res.status).toBe(201);
  return Poll.parse(await res.json());
}

describe('polls', () => {
  it('takes one vote per viewer, extra votes for points, shows live results in chat, and freezes them at the end', async () => {
    const owner = await seedUser('own');
    const mod = await seedUser('mod');
    const alice = await seedUser('a');
    const bob = await seedUser('b');
    await grantRole(owner.channelId, mod.id, 'moderator');
    const chat = await openJson(owner.channelId);
    const poll = await startPoll(mod, owner.channelId, {
      title: 'Next game?',
      choices: ['Chess', 'Go', 'Tetris'],
      duration_seconds: 60,
      points_per_vote: 10,
    });
    await chat.next('poll', (frame) => frame.poll.id === poll.id && frame.poll.status === 'active');
    const [chess, go] = poll.choices;
    if (!chess || !go) throw new Error('choices missing');
    const votes = `/channels/${owner.channelId}/polls/${poll.id}/votes`;
    const aliceVote = requestId();
    expect((await post(votes, alice.token, { choice_id: chess.id, request_id: aliceVote })).status).toBe(200);
    // The same ballot again changes nothing; a second vote is refused.
    expect((await post(votes, alice.token, { choice_id: chess.id, request_id: aliceVote })).status).toBe(200);
    const second = await post(votes, alice.token, { choice_id: go.id, request_id: requestId() });
    expect(second.status).toBe(409);
    // Extra votes cost points, for the same choice only, and never more points than held.
    await grant(owner.channelId, bob.id, 25);
    expect(
      (await post(votes, bob.token, { choice_id: go.id, request_id: requestId(), extra_votes: 3 })).status,
    ).toBe(422);
    expect(await balanceOf(owner.channelId, bob)).toBe(25);
    expect(
      (await post(votes, bob.token, { choice_id: go.id, request_id: requestId(), extra_votes: 2 })).status,
    ).toBe(200);
    expect(await balanceOf(owner.channelId, bob)).toBe(5);
    expect(
      (await post(votes, bob.token, { choice_id: chess.id, request_id: requestId(), extra_votes: 0 })).status,
    ).toBe(409);
    expect((await post(votes, bob.token, { choice_id: 'nope', request_id: requestId() })).status).toBe(422);
    // Live results reach chat (coalesced, at most once a second).
    await chat.next('poll', (frame) => frame.poll.choices.find((c) => c.id === go.id)?.votes === 3, 5000);
    const ended = await post(`/channels/${owner.channelId}/polls/${poll.id}/end`, owner.token);
    expect(ended.status).toBe(200);
    const final = Poll.parse(await ended.json());
    expect(final.status).toBe('ended');
    expect(final.choices.map((c) => c.votes)).toEqual([1, 3, 0]);
    await chat.next('poll', (frame) => frame.poll.status === 'ended');
    // After the close: votes refused, results unchanged, a second end is a conflict.
    const late = await post(votes, owner.token, { choice_id: chess.id, request_id: requestId() });
    expect(late.status).toBe(409);
    expect((await post(`/channels/${owner.channelId}/polls/${poll.id}/end`, owner.token)).status).toBe(409);
    const overview = await callApi(`/channels/${owner.channelId}/engagement`);
    const current = z.object({ poll: Poll }).parse(await overview.json()).poll;
    expect(current.choices.map((c) => c.votes)).toEqual([1, 3, 0]);
    chat.close();
    await expectLedgerSound(owner.channelId);
  });

  it('closes at its time: a vote after the duration is refused and the end is announced', async () => {
    const owner = await seedUser('own');
    const viewer = await seedUser('v');
    const chat = await openJson(owner.channelId);
    const poll = await startPoll(owner, owner.channelId, {
      title: 'Quick',
      choices: ['Yes', 'No'],
      duration_seconds: 15,
    });
    await advance(owner.channelId, 16_000);
    const choice = poll.choices[0];
    if (!choice) throw new Error('no choice');
    const res = await post(`/channels/${owner.channelId}/polls/${poll.id}/votes`, viewer.token, {
      choice_id: choice.id,
      request_id: requestId(),
    });
    expect(res.status).toBe(409);
    await chat.next('poll', (frame) => frame.poll.id === poll.id && frame.poll.status === 'ended');
    chat.close();
  });

  it('refuses a poll from a non-moderator (403), a second running poll (409) and malformed ones (400)', async () => {
    const owner = await seedUser('own');
    const viewer = await seedUser('v');
    const path = `/channels/${owner.channelId}/polls`;
    const good = { title: 'Ok?', choices: ['A', 'B'], duration_seconds: 60 };
    const forbidden = await post(path, viewer.token, good);
    expect(forbidden.status).toBe(403);
    expect((await readError(forbidden)).code).toBe('forbidden');
    expect((await callApi(path, { method: 'POST', body: good })).status).toBe(401);
    for (const bad of [
      { ...good, choices: ['Only one'] },
      { ...good, choices: ['1', '2', '3', '4', '5', '6'] },
      { ...good, duration_seconds: 14 },
      { ...good, duration_seconds: 1801 },
      { ...good, duration_seconds: 30.5 },
      { ...good, title: 'x'.repeat(61) },
      { ...good, choices: ['A', 'x'.repeat(26)] },
      { ...good, choices: ['A', '   '] },
      { ...good, points_per_vote: 0 },
      { ...good, extra: 1 },
      { title: 'No choices', duration_seconds: 60 },
    ]) {
      const res = await post(path, owner.token, bad);
      expect(res.status, JSON.stringify(bad)).toBe(400);
      expect((await readError(res)).code).toBe('validation_failed');
    }
    expect((await callApi(path, { method: 'POST', token: owner.token, rawBody: 'not json' })).status).toBe(
      400,
    );
    await startPoll(owner, owner.channelId, good);
    expect((await post(path, owner.token, good)).status).toBe(409);
    const votes = `/channels/${owner.channelId}/polls/unknown/votes`;
    expect((await post(votes, viewer.token, { choice_id: 'x', request_id: requestId() })).status).toBe(404);
    expect((await post(votes, viewer.token, { choice_id: 'x', request_id: 'short' })).status).toBe(400);
  });
});

async function startPrediction(
  actor: SeededUser,
  channelId: string,
  outcomes: string[],
  windowSeconds = 120,
) {
  const res = await post(`/channels/${channelId}/predictions`, actor.token, {
    title: 'Who wins?',
    outcomes,
    window_seconds: windowSeconds,
  });
  expect(res.status).toBe(201);
  return Prediction.parse(await res.json());
}

describe('predictions', () => {
  it('splits the pot by stake among the winners exactly once, and refuses a second resolve or a cancel after it', async () => {
    const owner = await seedUser('own');
    const [a, b, c] = [await seedUser('a'), await seedUser('b'), await seedUser('c')];
    const chat = await openJson(owner.channelId);
    for (const user of [a, b, c]) await grant(owner.channelId, user.id, 1000);
    const prediction = await startPrediction(owner, owner.channelId, ['Blue', 'Red']);
    const [blue, red] = prediction.outcomes;
    if (!blue || !red) throw new Error('outcomes missing');
    const stakes = `/channels/${owner.channelId}/predictions/${prediction.id}/stakes`;
    // More than the balance: refused, nothing moved.
    const tooMuch = await post(stakes, a.token, {
      outcome_id: blue.id,
      points: 1001,
      request_id: requestId(),
    });
    expect(tooMuch.status).toBe(422);
    expect(await balanceOf(owner.channelId, a)).toBe(1000);
    const aStake = requestId();
    expect(
      (await post(stakes, a.token, { outcome_id: blue.id, points: 100, request_id: aStake })).status,
    ).toBe(200);
    expect(
      (await post(stakes, a.token, { outcome_id: blue.id, points: 100, request_id: aStake })).status,
    ).toBe(200);
    expect(await balanceOf(owner.channelId, a)).toBe(900);
    expect(
      (await post(stakes, a.token, { outcome_id: red.id, points: 5, request_id: requestId() })).status,
    ).toBe(409);
    expect(
      (await post(stakes, b.token, { outcome_id: blue.id, points: 201, request_id: requestId() })).status,
    ).toBe(200);
    expect(
      (await post(stakes, c.token, { outcome_id: red.id, points: 500, request_id: requestId() })).status,
    ).toBe(200);
    await chat.next('prediction', (frame) => frame.prediction.outcomes[1]?.points === 500, 5000);
    const lock = await post(`/channels/${owner.channelId}/predictions/${prediction.id}/lock`, owner.token);
    expect(lock.status).toBe(200);
    expect(
      (await post(stakes, c.token, { outcome_id: red.id, points: 1, request_id: requestId() })).status,
    ).toBe(409);
    const resolvePath = `/channels/${owner.channelId}/predictions/${prediction.id}/resolve`;
    expect((await post(resolvePath, owner.token, { winning_outcome_id: 'nope' })).status).toBe(422);
    const resolved = await post(resolvePath, owner.token, { winning_outcome_id: blue.id });
    expect(resolved.status).toBe(200);
    // Pot 801 to stakes 100 and 201 of 301: floor(801×100/301)=266, floor(801×201/301)=534, 1 left
    // goes to the larger remainder (801×201 mod 301 = 267 > 801×100 mod 301 = 34): b.
    expect(await balanceOf(owner.channelId, a)).toBe(900 + 266);
    expect(await balanceOf(owner.channelId, b)).toBe(799 + 535);
    expect(await balanceOf(owner.channelId, c)).toBe(500);
    expect((await post(resolvePath, owner.token, { winning_outcome_id: red.id })).status).toBe(409);
    const cancel = await post(
      `/channels/${owner.channelId}/predictions/${prediction.id}/cancel`,
      owner.token,
    );
    expect(cancel.status).toBe(409);
    expect(await balanceOf(owner.channelId, c)).toBe(500);
    await chat.next('prediction', (frame) => frame.prediction.status === 'resolved');
    chat.close();
    await expectLedgerSound(owner.channelId);
  });

  it('refunds every stake exactly once on cancel, and locks by itself when the window ends', async () => {
    const owner = await seedUser('own');
    const mod = await seedUser('mod');
    const viewer = await seedUser('v');
    await grantRole(owner.channelId, mod.id, 'moderator');
    await grant(owner.channelId, viewer.id, 300);
    const prediction = await startPrediction(mod, owner.channelId, ['Yes', 'No', 'Maybe'], 30);
    const yes = prediction.outcomes[0];
    if (!yes) throw new Error('no outcome');
    const stakes = `/channels/${owner.channelId}/predictions/${prediction.id}/stakes`;
    expect(
      (await post(stakes, viewer.token, { outcome_id: yes.id, points: 120, request_id: requestId() })).status,
    ).toBe(200);
    await advance(owner.channelId, 31_000);
    expect(
      (await post(stakes, viewer.token, { outcome_id: yes.id, points: 1, request_id: requestId() })).status,
    ).toBe(409);
    const cancelPath = `/channels/${owner.channelId}/predictions/${prediction.id}/cancel`;
    expect((await post(cancelPath, viewer.token)).status).toBe(403);
    expect((await post(cancelPath, mod.token)).status).toBe(200);
    expect(await balanceOf(owner.channelId, viewer)).toBe(300);
    expect((await post(cancelPath, mod.token)).status).toBe(409);
    const resolve = await post(
      `/channels/${owner.channelId}/predictions/${prediction.id}/resolve`,
      mod.token,
      {
        winning_outcome_id: yes.id,
      },
    );
    expect(resolve.status).toBe(409);
    expect(await balanceOf(owner.channelId, viewer)).toBe(300);
    await expectLedgerSound(owner.channelId);
  });

  it('refuses malformed predictions and stakes', async () => {
    const owner = await seedUser('own');
    const viewer = await seedUser('v');
    const path = `/channels/${owner.channelId}/predictions`;
    const good = { title: 'Who?', outcomes: ['A', 'B'], window_seconds: 60 };
    expect((await post(path, viewer.token, good)).status).toBe(403);
    for (const bad of [
      { ...good, outcomes: ['A'] },
      { ...good, outcomes: Array.from({ length: 11 }, (_, n) => `O${n}`) },
      { ...good, window_seconds: 29 },
      { ...good, window_seconds: 1801 },
      { ...good, title: 'x'.repeat(46) },
    ])
      expect((await post(path, owner.token, bad)).status, JSON.stringify(bad)).toBe(400);
    const prediction = await startPrediction(
      owner,
      owner.channelId,
      Array.from({ length: 10 }, (_, n) => `O${n}`),
    );
    expect((await post(path, owner.token, good)).status).toBe(409);
    const stakes = `${path}/${prediction.id}/stakes`;
    const outcome = prediction.outcomes[0]?.id ?? '';
    for (const bad of [
      { outcome_id: outcome, points: 0, request_id: requestId() },
      { outcome_id: outcome, points: -10, request_id: requestId() },
      { outcome_id: outcome, points: 250_001, request_id: requestId() },
      { outcome_id: outcome, points: 1.5, request_id: requestId() },
      { outcome_id: outcome, points: 10 },
    ])
      expect((await post(stakes, viewer.token, bad)).status, JSON.stringify(bad)).toBe(400);
    expect(
      (await post(stakes, viewer.token, { outcome_id: outcome, points: 1, request_id: requestId() })).status,
    ).toBe(422);
    await expectLedgerSound(owner.channelId);
  });
});
