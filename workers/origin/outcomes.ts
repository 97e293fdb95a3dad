// The one place where the LiveStream object's typed outcomes become HTTP statuses for the
// playback routes (docs/api.md): the object speaks its domain ("not found", "too early", "busy"),
// the Worker speaks HTTP.
import type { PartOutcome, PlaylistOutcome } from '../../durable-objects/live-stream/types.ts';
import { ApiError, badRequest, notFound, unavailable } from '../shared/errors.ts';

type Refusal = Exclude<PlaylistOutcome | PartOutcome, { kind: 'ok' }>;

/** The error response of an outcome that is not 'ok'. */
export function toApiError(outcome: Refusal): ApiError {
  switch (outcome.kind) {
    case 'bad-request':
      return badRequest(outcome.message);
    case 'not-found':
      return 'message' in outcome ? new ApiError(404, 'not_found', outcome.message) : notFound('Media file');
    // "If the server cannot ... within three times the Target Duration, it SHOULD return 503."
    case 'too-early':
      return unavailable(outcome.message, outcome.retryAfterMs / 1000);
    case 'busy':
      return unavailable('Too many requests are waiting for this stream', outcome.retryAfterMs / 1000);
  }
}
