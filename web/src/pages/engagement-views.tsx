// How a poll and a prediction look, wherever they are shown: the watch page's panel, the
// dashboard and the OBS overlay (docs/engagement.md). Display only; actions come in as props.
// Bars are <meter> elements: the CSP allows no inline styles.
import type { ReactNode } from 'react';
import type { PollView, PredictionView } from '../../../protocol/engagement.ts';
import { formatCount } from '../components/format.ts';

/** What chat last said when it said anything (frames are live), else what the API answered. */
export function pickLatest<T>(loaded: T | null | undefined, live: T | null): T | null {
  return live ?? loaded ?? null;
}

export function PollCard({
  poll,
  renderAction,
}: {
  poll: PollView;
  renderAction?: (choice: PollView['choices'][number]) => ReactNode;
}) {
  const total = poll.choices.reduce((sum, choice) => sum + choice.votes, 0);
  return (
    <div className="engagement-card" data-poll-status={poll.status}>
      <p className="engagement-kind">{poll.status === 'active' ? 'Poll' : 'Poll ended'}</p>
      <h3>{poll.title}</h3>
      <ul className="engagement-options">
        {poll.choices.map((choice) => (
          <li key={choice.id} data-choice={choice.title} data-votes={choice.votes}>
            <span className="engagement-option-title">{choice.title}</span>
            <meter min={0} max={Math.max(1, total)} value={choice.votes} />
            <span className="engagement-option-count">
              {total > 0 ? Math.round((choice.votes / total) * 100) : 0}% ({formatCount(choice.votes)})
            </span>
            {renderAction ? renderAction(choice) : null}
          </li>
        ))}
      </ul>
    </div>
  );
}

const PREDICTION_STATUS: Record<PredictionView['status'], string> = {
  active: 'Prediction',
  locked: 'Prediction locked',
  resolved: 'Prediction resolved',
  canceled: 'Prediction canceled: points refunded',
};

export function PredictionCard({
  prediction,
  renderAction,
}: {
  prediction: PredictionView;
  renderAction?: (outcome: PredictionView['outcomes'][number]) => ReactNode;
}) {
  const pot = prediction.outcomes.reduce((sum, outcome) => sum + outcome.points, 0);
  return (
    <div className="engagement-card" data-prediction-status={prediction.status}>
      <p className="engagement-kind">{PREDICTION_STATUS[prediction.status]}</p>
      <h3>{prediction.title}</h3>
      <ul className="engagement-options">
        {prediction.outcomes.map((outcome) => (
          <li
            key={outcome.id}
            data-outcome={outcome.title}
            data-points={outcome.points}
            className={outcome.id === prediction.winning_outcome_id ? 'engagement-winner' : undefined}
          >
            <span className="engagement-option-title">
              {outcome.title}
              {outcome.id === prediction.winning_outcome_id ? ' ✓' : ''}
            </span>
            <meter min={0} max={Math.max(1, pot)} value={outcome.points} />
            <span className="engagement-option-count">
              {formatCount(outcome.points)} points · {formatCount(outcome.users)}{' '}
              {outcome.users === 1 ? 'viewer' : 'viewers'}
              {outcome.points > 0 ? ` · 1:${(pot / outcome.points).toFixed(2)}` : ''}
            </span>
            {renderAction ? renderAction(outcome) : null}
          </li>
        ))}
      </ul>
    </div>
  );
}
