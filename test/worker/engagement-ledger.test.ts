// The channel-points ledger under a randomized run (fast-check): grants, redemptions (some over the
// balance, some retried with the same request id), fulfilments and rejections (some twice), poll
// votes with extra votes, prediction stakes (some over the balance, some retried), locks, resolves
// and cancels in any order (some twice). After every run: the entries and the balances sum to zero,
// no account but issuance is below zero, every balance is the sum of its entries, and every
// resolved or canceled prediction's pot is empty (paid out whole, once).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { potAccount, userAccount } from '../../durable-objects/channel-engagement/points-ledger.ts';
import { splitPot } from '../../durable-objects/channel-engagement/predictions.ts';
import { seedUser } from './chat-fixtures.ts';
import { type EngagementStub, getEngagementStub, runInTestEngagement } from './engagement-fixtures.ts';

const USERS = ['u1', 'u2', 'u3', 'u4'];
const requestId = fc.integer({ min: 0, max: 12 }).map((n) => `req-${String(n).padStart(6, '0')}`);
const user = fc.constantFrom(...USERS);

// Weighted so that most runs stake several viewers on one outcome before a resolve (the rounding).
const Operation = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('grant' as const),
      user,
      amount: fc.integer({ min: 1, max: 1000 }),
    }),
  },
  fc.record({ kind: fc.constant('redeem' as const), user, reward: fc.nat(1), requestId }),
  fc.record({ kind: fc.constant('decide' as const), pick: fc.nat(20), fulfil: fc.boolean() }),
  fc.record({ kind: fc.constant('vote' as const), user, choice: fc.nat(2), extra: fc.nat(4), requestId }),
  fc.record({ kind: fc.constant('newPoll' as const) }),
  {
    weight: 10,
    arbitrary: fc.record({
      kind: fc.constant('stake' as const),
      user,
      outcome: fc.nat(1),
      points: fc.integer({ min: 1, max: 150 }),
      requestId,
    }),
  },
  fc.record({ kind: fc.constant('lock' as const) }),
  fc.record({ kind: fc.constant('resolve' as const), outcome: fc.nat(1) }),
  fc.record({ kind: fc.constant('cancel' as const) }),
  fc.record({ kind: fc.constant('newPrediction' as const) }),
);

describe('channel points ledger', () => {
  it('balances after any sequence of grants, redemptions, votes, stakes, resolves and cancels', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(Operation, { minLength: 20, maxLength: 60 }), async (operations) => {
        const owner = await seedUser('prop');
        const channelId = owner.channelId;
        const engagement = getEngagementStub(channelId);
        const rewards = [
          await engagement.addReward(channelId, rewardInput('Small', 30)),
          await engagement.addReward(channelId, rewardInput('Large', 75)),
        ].map((outcome) => (outcome.kind === 'ok' ? outcome.value.id : ''));
        let poll = await openPoll(engagement, channelId);
        let prediction = await openPrediction(engagement, channelId);
        // Everyone starts with some points, so early stakes and redemptions are not all refused.
        await runInTestEngagement(engagement, async (instance) => {
          for (const id of USERS) instance.grantPoints(id, 300);
        });
        const redemptions: string[] = [];
        const closedPredictions: string[] = [];
        for (const op of operations) {
          switch (op.kind) {
            case 'grant':
              await runInTestEngagement(engagement, async (instance) => {
                instance.grantPoints(op.user, op.amount);
              });
              break;
            case 'redeem': {
              const outcome = await engagement.redeem(channelId, {
                rewardId: rewards[op.reward] ?? '',
                user: { id: op.user, login: op.user },
                input: null,
                requestId: op.requestId,
              });
              if (outcome.kind === 'ok' && !outcome.duplicate) redemptions.push(outcome.value.redemption.id);
              break;
            }
            case 'decide': {
              const id = redemptions[op.pick % Math.max(1, redemptions.length)];
              if (id) await engagement.decideRedemption(channelId, id, op.fulfil ? 'fulfilled' : 'canceled');
              break;
            }
            case 'vote':
              await engagement.vote(channelId, {
                pollId: poll.id,
                userId: op.user,
                choiceId: poll.choices[op.choice] ?? '',
                requestId: op.requestId,
                extraVotes: op.extra,
              });
              break;
            case 'newPoll':
              await engagement.endPoll(channelId, poll.id);
              poll = await openPoll(engagement, channelId);
              break;
            case 'stake':
              await engagement.stake(channelId, {
                predictionId: prediction.id,
                userId: op.user,
                outcomeId: prediction.outcomes[op.outcome] ?? '',
                points: op.points,
                requestId: op.requestId,
              });
              break;
            case 'lock':
              await engagement.lockPrediction(channelId, prediction.id);
              break;
            case 'resolve': {
              const outcome = await engagement.resolvePrediction(
                channelId,
                prediction.id,
                prediction.outcomes[op.outcome] ?? '',
              );
              if (outcome.kind === 'ok') closedPredictions.push(prediction.id);
              // Resolved twice (a retry, a second moderator): refused, nothing paid again.
              expect(
                (
                  await engagement.resolvePrediction(
                    channelId,
                    prediction.id,
                    outcome.kind === 'ok' ? (outcome.value.winning_outcome_id ?? '') : '',
                  )
                ).kind,
              ).not.toBe('ok');
              prediction = await openPrediction(engagement, channelId);
              break;
            }
            case 'cancel':
              if ((await engagement.cancelPrediction(channelId, prediction.id)).kind === 'ok')
                closedPredictions.push(prediction.id);
              prediction = await openPrediction(engagement, channelId);
              break;
            case 'newPrediction':
              await engagement.cancelPrediction(channelId, prediction.id);
              closedPredictions.push(prediction.id);
              prediction = await openPrediction(engagement, channelId);
              break;
          }
        }
        const audit = await engagement.auditLedger();
        expect(audit).toEqual({ entrySum: 0, balanceSum: 0, negativeAccounts: [], driftedAccounts: [] });
        await runInTestEngagement(engagement, async (instance) => {
          for (const id of closedPredictions) expect(instance.readAccount(potAccount(id))).toBe(0);
          for (const id of USERS) expect(instance.readAccount(userAccount(id))).toBeGreaterThanOrEqual(0);
        });
      }),
      { numRuns: 30 },
    );
  });

  it('splits any pot whole: shares sum to the pot and each is within one point of its exact part', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 250_000 }), { minLength: 1, maxLength: 50 }),
        fc.integer({ min: 0, max: 10_000_000 }),
        (stakes, losers) => {
          const winners = stakes.map((points, n) => ({ userId: `u${n}`, points }));
          const total = stakes.reduce((sum, points) => sum + points, 0);
          const pot = total + losers;
          const shares = splitPot(pot, winners);
          expect([...shares.values()].reduce((sum, share) => sum + share, 0)).toBe(pot);
          for (const winner of winners) {
            const exact = (pot * winner.points) / total;
            const share = shares.get(winner.userId) ?? -1;
            expect(share).toBeGreaterThanOrEqual(Math.floor(exact));
            expect(share).toBeLessThanOrEqual(Math.floor(exact) + 1);
          }
        },
      ),
    );
  });
});

function rewardInput(title: string, cost: number) {
  return {
    title,
    cost,
    prompt: null,
    enabled: true,
    max_per_stream: null,
    max_per_user_per_stream: null,
    cooldown_seconds: 0,
  };
}

type Engagement = EngagementStub;

async function openPoll(engagement: Engagement, channelId: string) {
  const outcome = await engagement.startPoll(channelId, {
    title: 'Poll',
    choices: ['A', 'B', 'C'],
    durationSeconds: 600,
    pointsPerVote: 5,
  });
  if (outcome.kind !== 'ok') throw new Error(`poll refused: ${outcome.kind}`);
  return { id: outcome.value.id, choices: outcome.value.choices.map((choice) => choice.id) };
}

async function openPrediction(engagement: Engagement, channelId: string) {
  const outcome = await engagement.startPrediction(channelId, {
    title: 'Prediction',
    outcomes: ['A', 'B', 'C'],
    windowSeconds: 600,
  });
  if (outcome.kind !== 'ok') throw new Error(`prediction refused: ${outcome.kind}`);
  return { id: outcome.value.id, outcomes: outcome.value.outcomes.map((item) => item.id) };
}
