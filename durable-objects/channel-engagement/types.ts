// What the ChannelEngagement object answers: a value, or a refusal in the domain's words. The
// Worker maps refusals to statuses in one place (workers/api/routes/engagement.ts).

export type EngagementRefusal =
  | { kind: 'not-found'; what: string }
  /** The state forbids it: a closed poll, a second vote, a resolved prediction, a paused reward. */
  | { kind: 'conflict'; message: string }
  /** Well-formed but not valid here: an unknown choice, input a reward does not ask for. */
  | { kind: 'invalid'; message: string }
  /** More points than the viewer has. */
  | { kind: 'insufficient'; message: string }
  /** A reward's global cooldown. */
  | { kind: 'cooldown'; message: string; retryAfterMs: number };

/** `duplicate`: the request id was seen before; nothing changed, the value is today's state. */
export type EngagementOutcome<T> = { kind: 'ok'; value: T; duplicate: boolean } | EngagementRefusal;

export function ok<T>(value: T, duplicate = false): EngagementOutcome<T> {
  return { kind: 'ok', value, duplicate };
}

export function conflict(message: string): EngagementRefusal {
  return { kind: 'conflict', message };
}

export function invalid(message: string): EngagementRefusal {
  return { kind: 'invalid', message };
}

export function notFound(what: string): EngagementRefusal {
  return { kind: 'not-found', what };
}

export const NOT_ENOUGH_POINTS: EngagementRefusal = {
  kind: 'insufficient',
  message: 'You do not have enough channel points for that.',
};

export function toIso(ms: number): string {
  return new Date(ms).toISOString();
}
