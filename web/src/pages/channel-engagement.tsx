// The watch page's channel-points panel (docs/engagement.md): the viewer's balance and the watch
// bonus to claim, the channel's rewards to redeem, and the current poll (vote) and prediction
// (stake). The overview comes from the API; chat's poll and prediction frames keep the results
// live, and a change of status (ended, locked, resolved, canceled) reloads the viewer's own part,
// so a payout shows in the balance as soon as chat announces it.
import { type FormEvent, useEffect, useState } from 'react';
import { Link } from 'react-router';
import type { PollView, PredictionView, RewardView } from '../../../protocol/engagement.ts';
import { api, describeError, readApi } from '../api/client.ts';
import { useApi } from '../api/use-api.ts';
import { useAuth } from '../auth/auth-context.tsx';
import { formatCount } from '../components/format.ts';
import { PollCard, PredictionCard, pickLatest } from './engagement-views.tsx';

/** A fresh idempotency key per action: a retried request with it has no second effect. */
function newRequestId(): string {
  return crypto.randomUUID();
}

export function ChannelEngagement({
  channelId,
  livePoll,
  livePrediction,
}: {
  channelId: string;
  livePoll: PollView | null;
  livePrediction: PredictionView | null;
}) {
  const { user } = useAuth();
  const param = { id: encodeURIComponent(channelId) };
  const overview = useApi(`/channels/${channelId}/engagement:${user?.id ?? ''}`, (options) =>
    readApi(api.channels[':id'].engagement.$get({ param }, options)),
  );
  const [note, setNote] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const { reload } = overview;
  const poll = pickLatest(overview.data?.poll, livePoll);
  const prediction = pickLatest(overview.data?.prediction, livePrediction);
  const viewer = overview.data?.viewer ?? null;

  // A status change announced in chat may have moved this viewer's points (a payout, a refund).
  const statusKey = `${poll?.id}:${poll?.status}:${prediction?.id}:${prediction?.status}`;
  // biome-ignore lint/correctness/useExhaustiveDependencies: statusKey is the trigger.
  useEffect(() => {
    reload();
  }, [statusKey, reload]);
  // Watching earns points and bonuses over minutes: look again now and then.
  useEffect(() => {
    const timer = setInterval(reload, 60_000);
    return () => clearInterval(timer);
  }, [reload]);

  const act = (request: () => Promise<unknown>, done: string) => {
    setBusy(true);
    request().then(
      () => {
        setNote(done);
        setBusy(false);
        reload();
      },
      (error: unknown) => {
        setNote(describeError(error));
        setBusy(false);
      },
    );
  };

  if (!overview.data) return null;
  const rewards = overview.data.rewards;
  if (!poll && !prediction && rewards.length === 0 && !viewer) return null;

  return (
    <section className="channel-engagement" aria-label="Channel points">
      {viewer ? (
        <p className="points-balance">
          <span data-testid="points-balance" data-balance={viewer.balance}>
            {formatCount(viewer.balance)} channel points
          </span>
          {viewer.bonus_claimable ? (
            <button
              type="button"
              className="button-primary"
              disabled={busy}
              onClick={() =>
                act(() => readApi(api.channels[':id'].points.claim.$post({ param })), 'Bonus claimed!')
              }
            >
              Claim bonus
            </button>
          ) : null}
        </p>
      ) : (
        <p className="muted">
          <Link to="/login">Log in</Link> and watch to earn channel points.
        </p>
      )}
      {poll ? (
        <PollCard
          poll={poll}
          renderAction={(choice) =>
            viewer && poll.status === 'active' && viewer.poll_choice_id === null ? (
              <button
                type="button"
                disabled={busy}
                aria-label={`Vote ${choice.title}`}
                onClick={() =>
                  act(
                    () =>
                      readApi(
                        api.channels[':id'].polls[':poll_id'].votes.$post({
                          param: { ...param, poll_id: encodeURIComponent(poll.id) },
                          json: { choice_id: choice.id, request_id: newRequestId() },
                        }),
                      ),
                    `You voted ${choice.title}.`,
                  )
                }
              >
                Vote
              </button>
            ) : viewer?.poll_choice_id === choice.id ? (
              <span className="muted">Your vote</span>
            ) : null
          }
        />
      ) : null}
      {prediction ? (
        <>
          <PredictionCard prediction={prediction} />
          {viewer?.prediction ? (
            <p className="muted" data-testid="my-prediction">
              You predicted{' '}
              {prediction.outcomes.find((o) => o.id === viewer.prediction?.outcome_id)?.title ?? '?'} with{' '}
              {formatCount(viewer.prediction.points)} points.
            </p>
          ) : null}
          {viewer && prediction.status === 'active' ? (
            <StakeForm
              prediction={prediction}
              lockedOutcome={viewer.prediction?.outcome_id ?? null}
              busy={busy}
              onStake={(outcomeId, points) =>
                act(
                  () =>
                    readApi(
                      api.channels[':id'].predictions[':prediction_id'].stakes.$post({
                        param: { ...param, prediction_id: encodeURIComponent(prediction.id) },
                        json: { outcome_id: outcomeId, points, request_id: newRequestId() },
                      }),
                    ),
                  `Staked ${points} points.`,
                )
              }
            />
          ) : null}
        </>
      ) : null}
      {viewer && rewards.length > 0 ? (
        <RewardList
          rewards={rewards}
          busy={busy}
          onRedeem={(reward, input) =>
            act(
              () =>
                readApi(
                  api.channels[':id'].rewards[':reward_id'].redemptions.$post({
                    param: { ...param, reward_id: encodeURIComponent(reward.id) },
                    json:
                      input === null ? { request_id: newRequestId() } : { request_id: newRequestId(), input },
                  }),
                ),
              `Redeemed ${reward.title}.`,
            )
          }
        />
      ) : null}
      {note ? (
        <p role="status" className="engagement-note">
          {note}
        </p>
      ) : null}
    </section>
  );
}

function StakeForm({
  prediction,
  lockedOutcome,
  busy,
  onStake,
}: {
  prediction: PredictionView;
  lockedOutcome: string | null;
  busy: boolean;
  onStake: (outcomeId: string, points: number) => void;
}) {
  const [outcomeId, setOutcomeId] = useState(lockedOutcome ?? prediction.outcomes[0]?.id ?? '');
  const [points, setPoints] = useState(10);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    onStake(lockedOutcome ?? outcomeId, points);
  };
  return (
    <form className="stake-form" onSubmit={submit}>
      <label>
        Outcome{' '}
        <select
          value={lockedOutcome ?? outcomeId}
          disabled={lockedOutcome !== null}
          onChange={(event) => setOutcomeId(event.target.value)}
        >
          {prediction.outcomes.map((outcome) => (
            <option key={outcome.id} value={outcome.id}>
              {outcome.title}
            </option>
          ))}
        </select>
      </label>{' '}
      <label>
        Points{' '}
        <input
          type="number"
          min={1}
          step={1}
          value={points}
          onChange={(event) => setPoints(Math.max(1, Math.floor(Number(event.target.value) || 1)))}
        />
      </label>{' '}
      <button type="submit" className="button-primary" disabled={busy}>
        Predict
      </button>
    </form>
  );
}

function RewardList({
  rewards,
  busy,
  onRedeem,
}: {
  rewards: RewardView[];
  busy: boolean;
  onRedeem: (reward: RewardView, input: string | null) => void;
}) {
  const [inputs, setInputs] = useState<Record<string, string>>({});
  return (
    <ul className="reward-list" aria-label="Rewards">
      {rewards.map((reward) => (
        <li key={reward.id}>
          <span>
            {reward.title} · {formatCount(reward.cost)}
          </span>
          {reward.prompt !== null ? (
            <input
              aria-label={reward.prompt}
              placeholder={reward.prompt}
              value={inputs[reward.id] ?? ''}
              onChange={(event) => setInputs({ ...inputs, [reward.id]: event.target.value })}
            />
          ) : null}
          <button
            type="button"
            disabled={
              busy || reward.cooldown_expires_at !== null || (reward.prompt !== null && !inputs[reward.id])
            }
            onClick={() => onRedeem(reward, reward.prompt === null ? null : (inputs[reward.id] ?? ''))}
          >
            Redeem
          </button>
        </li>
      ))}
    </ul>
  );
}
