// The dashboard's engagement controls (docs/engagement.md): custom rewards (create, pause,
// delete), the redemption queue (fulfill or reject, which refunds), and the channel's poll and
// prediction (start, end; lock, resolve, cancel). Every action goes through the API, which checks
// the actor is the broadcaster (rewards) or a moderator (the rest).
import { type FormEvent, useEffect, useState } from 'react';
import {
  MAX_OUTCOMES,
  MAX_POLL_CHOICES,
  MAX_POLL_SECONDS,
  MAX_POLL_TITLE_LENGTH,
  MAX_PREDICTION_TITLE_LENGTH,
  MAX_PREDICTION_WINDOW_SECONDS,
  MAX_REWARD_PROMPT_LENGTH,
  MAX_REWARD_TITLE_LENGTH,
  MIN_POLL_SECONDS,
  MIN_PREDICTION_WINDOW_SECONDS,
} from '../../../protocol/engagement.ts';
import { api, describeError, readApi } from '../api/client.ts';
import { useApi } from '../api/use-api.ts';
import { formatCount } from '../components/format.ts';
import { ErrorMessage, LoadingMessage } from '../components/status-message.tsx';
import { PollCard, PredictionCard } from './engagement-views.tsx';

/** One line per choice or outcome, blanks dropped. */
function readLines(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
}

function useAction(onDone: () => void) {
  const [note, setNote] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const run = (request: () => Promise<unknown>, done: string) => {
    setBusy(true);
    request().then(
      () => {
        setNote(done);
        setBusy(false);
        onDone();
      },
      (error: unknown) => {
        setNote(describeError(error));
        setBusy(false);
      },
    );
  };
  return { note, busy, run };
}

export function PollPredictionPanel({ channelId }: { channelId: string }) {
  const param = { id: encodeURIComponent(channelId) };
  const overview = useApi(`/channels/${channelId}/engagement`, (options) =>
    readApi(api.channels[':id'].engagement.$get({ param }, options)),
  );
  const { reload } = overview;
  useEffect(() => {
    const timer = setInterval(reload, 3000);
    return () => clearInterval(timer);
  }, [reload]);
  const { note, busy, run } = useAction(reload);
  const [pollTitle, setPollTitle] = useState('');
  const [pollChoices, setPollChoices] = useState('');
  const [pollSeconds, setPollSeconds] = useState(120);
  const [predictionTitle, setPredictionTitle] = useState('');
  const [predictionOutcomes, setPredictionOutcomes] = useState('');
  const [predictionWindow, setPredictionWindow] = useState(120);
  if (overview.error) return <ErrorMessage error={overview.error} />;
  if (!overview.data) return <LoadingMessage />;
  const { poll, prediction } = overview.data;
  const pollRunning = poll?.status === 'active';
  const predictionOpen = prediction?.status === 'active' || prediction?.status === 'locked';

  const startPoll = (event: FormEvent) => {
    event.preventDefault();
    run(
      () =>
        readApi(
          api.channels[':id'].polls.$post({
            param,
            json: { title: pollTitle, choices: readLines(pollChoices), duration_seconds: pollSeconds },
          }),
        ),
      'Poll started.',
    );
  };
  const startPrediction = (event: FormEvent) => {
    event.preventDefault();
    run(
      () =>
        readApi(
          api.channels[':id'].predictions.$post({
            param,
            json: {
              title: predictionTitle,
              outcomes: readLines(predictionOutcomes),
              window_seconds: predictionWindow,
            },
          }),
        ),
      'Prediction started.',
    );
  };
  const predictionParam = prediction ? { ...param, prediction_id: encodeURIComponent(prediction.id) } : null;

  return (
    <div className="dashboard-engagement">
      <h3>Poll</h3>
      {poll ? <PollCard poll={poll} /> : <p className="muted">No poll yet.</p>}
      {poll && pollRunning ? (
        <button
          type="button"
          disabled={busy}
          onClick={() =>
            run(
              () =>
                readApi(
                  api.channels[':id'].polls[':poll_id'].end.$post({
                    param: { ...param, poll_id: encodeURIComponent(poll.id) },
                  }),
                ),
              'Poll ended.',
            )
          }
        >
          End poll
        </button>
      ) : (
        <form className="stack-form" onSubmit={startPoll} aria-label="Start a poll">
          <label>
            Question
            <input
              value={pollTitle}
              maxLength={MAX_POLL_TITLE_LENGTH}
              required
              onChange={(event) => setPollTitle(event.target.value)}
            />
          </label>
          <label>
            Choices (one per line, 2–{MAX_POLL_CHOICES})
            <textarea
              value={pollChoices}
              required
              rows={3}
              onChange={(event) => setPollChoices(event.target.value)}
            />
          </label>
          <label>
            Seconds
            <input
              type="number"
              min={MIN_POLL_SECONDS}
              max={MAX_POLL_SECONDS}
              value={pollSeconds}
              onChange={(event) => setPollSeconds(Number(event.target.value))}
            />
          </label>
          <button type="submit" className="button-primary" disabled={busy}>
            Start poll
          </button>
        </form>
      )}
      <h3>Prediction</h3>
      {prediction ? (
        <PredictionCard
          prediction={prediction}
          renderAction={(outcome) =>
            predictionOpen && predictionParam ? (
              <button
                type="button"
                disabled={busy}
                aria-label={`${outcome.title} won`}
                onClick={() =>
                  run(
                    () =>
                      readApi(
                        api.channels[':id'].predictions[':prediction_id'].resolve.$post({
                          param: predictionParam,
                          json: { winning_outcome_id: outcome.id },
                        }),
                      ),
                    `Resolved: ${outcome.title} won.`,
                  )
                }
              >
                Won
              </button>
            ) : null
          }
        />
      ) : (
        <p className="muted">No prediction yet.</p>
      )}
      {predictionOpen && predictionParam ? (
        <p>
          {prediction?.status === 'active' ? (
            <button
              type="button"
              disabled={busy}
              onClick={() =>
                run(
                  () =>
                    readApi(
                      api.channels[':id'].predictions[':prediction_id'].lock.$post({
                        param: predictionParam,
                      }),
                    ),
                  'Prediction locked.',
                )
              }
            >
              Lock
            </button>
          ) : null}{' '}
          <button
            type="button"
            disabled={busy}
            onClick={() =>
              run(
                () =>
                  readApi(
                    api.channels[':id'].predictions[':prediction_id'].cancel.$post({
                      param: predictionParam,
                    }),
                  ),
                'Prediction canceled; every stake refunded.',
              )
            }
          >
            Cancel and refund
          </button>
        </p>
      ) : (
        <form className="stack-form" onSubmit={startPrediction} aria-label="Start a prediction">
          <label>
            Prediction
            <input
              value={predictionTitle}
              maxLength={MAX_PREDICTION_TITLE_LENGTH}
              required
              onChange={(event) => setPredictionTitle(event.target.value)}
            />
          </label>
          <label>
            Outcomes (one per line, 2–{MAX_OUTCOMES})
            <textarea
              value={predictionOutcomes}
              required
              rows={3}
              onChange={(event) => setPredictionOutcomes(event.target.value)}
            />
          </label>
          <label>
            Stakes close after (seconds)
            <input
              type="number"
              min={MIN_PREDICTION_WINDOW_SECONDS}
              max={MAX_PREDICTION_WINDOW_SECONDS}
              value={predictionWindow}
              onChange={(event) => setPredictionWindow(Number(event.target.value))}
            />
          </label>
          <button type="submit" className="button-primary" disabled={busy}>
            Start prediction
          </button>
        </form>
      )}
      {note ? <p role="status">{note}</p> : null}
    </div>
  );
}

export function RewardsPanel({ channelId }: { channelId: string }) {
  const param = { id: encodeURIComponent(channelId) };
  const rewards = useApi(`/channels/${channelId}/rewards`, (options) =>
    readApi(api.channels[':id'].rewards.$get({ param }, options)),
  );
  const queue = useApi(`/channels/${channelId}/redemptions`, (options) =>
    readApi(api.channels[':id'].redemptions.$get({ param, query: {} }, options)),
  );
  const reloadRewards = rewards.reload;
  const reloadQueue = queue.reload;
  useEffect(() => {
    const timer = setInterval(reloadQueue, 5000);
    return () => clearInterval(timer);
  }, [reloadQueue]);
  const { note, busy, run } = useAction(() => {
    reloadRewards();
    reloadQueue();
  });
  const [title, setTitle] = useState('');
  const [cost, setCost] = useState(100);
  const [prompt, setPrompt] = useState('');

  const create = (event: FormEvent) => {
    event.preventDefault();
    run(
      () =>
        readApi(
          api.channels[':id'].rewards.$post({
            param,
            json: prompt.trim() ? { title, cost, prompt: prompt.trim() } : { title, cost },
          }),
        ),
      `Reward “${title}” created.`,
    );
  };
  const rewardParam = (rewardId: string) => ({ ...param, reward_id: encodeURIComponent(rewardId) });

  return (
    <div className="dashboard-rewards">
      {rewards.error ? <ErrorMessage error={rewards.error} /> : null}
      <ul className="reward-admin-list" aria-label="Custom rewards">
        {(rewards.data?.data ?? []).map((reward) => (
          <li key={reward.id}>
            <span>
              {reward.title} · {formatCount(reward.cost)} points{reward.enabled ? '' : ' (paused)'}
            </span>{' '}
            <button
              type="button"
              disabled={busy}
              onClick={() =>
                run(
                  () =>
                    readApi(
                      api.channels[':id'].rewards[':reward_id'].$patch({
                        param: rewardParam(reward.id),
                        json: { enabled: !reward.enabled },
                      }),
                    ),
                  reward.enabled ? 'Reward paused.' : 'Reward enabled.',
                )
              }
            >
              {reward.enabled ? 'Pause' : 'Enable'}
            </button>{' '}
            <button
              type="button"
              disabled={busy}
              onClick={() =>
                run(async () => {
                  const res = await api.channels[':id'].rewards[':reward_id'].$delete({
                    param: rewardParam(reward.id),
                  });
                  if (!res.ok) throw new Error(`Could not delete the reward (${res.status}).`);
                }, 'Reward deleted.')
              }
            >
              Delete
            </button>
          </li>
        ))}
      </ul>
      <form className="stack-form" onSubmit={create} aria-label="Create a reward">
        <label>
          Reward
          <input
            value={title}
            maxLength={MAX_REWARD_TITLE_LENGTH}
            required
            onChange={(e) => setTitle(e.target.value)}
          />
        </label>
        <label>
          Cost
          <input type="number" min={1} value={cost} onChange={(e) => setCost(Number(e.target.value))} />
        </label>
        <label>
          Ask the viewer (optional)
          <input
            value={prompt}
            maxLength={MAX_REWARD_PROMPT_LENGTH}
            onChange={(e) => setPrompt(e.target.value)}
          />
        </label>
        <button type="submit" className="button-primary" disabled={busy}>
          Create reward
        </button>
      </form>
      <h3>Redemption queue</h3>
      {queue.error ? <ErrorMessage error={queue.error} /> : null}
      {queue.data && queue.data.data.length === 0 ? <p className="muted">Nothing is waiting.</p> : null}
      <ul className="redemption-queue" aria-label="Redemption queue">
        {(queue.data?.data ?? []).map((redemption) => {
          const decide = (status: 'fulfilled' | 'canceled') =>
            run(
              () =>
                readApi(
                  api.channels[':id'].redemptions[':redemption_id'].$post({
                    param: { ...param, redemption_id: encodeURIComponent(redemption.id) },
                    json: { status },
                  }),
                ),
              status === 'fulfilled' ? 'Fulfilled.' : 'Rejected; points refunded.',
            );
          return (
            <li key={redemption.id}>
              <p>
                <strong>{redemption.user.login}</strong> redeemed {redemption.reward.title} (
                {formatCount(redemption.reward.cost)}){redemption.input ? `: ${redemption.input}` : ''}
              </p>
              <button
                type="button"
                className="button-primary"
                disabled={busy}
                onClick={() => decide('fulfilled')}
              >
                Fulfill
              </button>{' '}
              <button type="button" disabled={busy} onClick={() => decide('canceled')}>
                Reject and refund
              </button>
            </li>
          );
        })}
      </ul>
      {note ? <p role="status">{note}</p> : null}
    </div>
  );
}
