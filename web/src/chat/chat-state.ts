// The chat a viewer sees, as a pure reduction of the server's frames (protocol/chat.ts), so the
// rules "a ban removes that user's messages" and "history replaces what we had" live in one place.
import type { BatchableFrame, ChatMessage, RoomState, ServerFrame } from '../../../protocol/chat.ts';
import type { PollView, PredictionView } from '../../../protocol/engagement.ts';

/** A line in the chat list: a chat message, or a system notice shown in the same flow. */
export type ChatLine = {
  id: string;
  user: {
    id?: string | null;
    name: string;
    display_name?: string | null;
    color?: string | null;
    badges?: { id: string; version: string }[] | null;
  } | null;
  content: string;
  emotes: { name: string; positions: [number, number][]; url: string }[];
};

export type ChatState = {
  lines: ChatLine[];
  roomState: RoomState | null;
  me: ChatMessage['user'] | null;
  viewerCount: number | null;
  /** The channel's latest poll and prediction as chat last told them (docs/engagement.md). */
  poll: PollView | null;
  prediction: PredictionView | null;
};

// Enough scrollback to read a burst; older lines are dropped so a busy room cannot grow the DOM.
export const MAX_LINES = 150;

export const INITIAL_CHAT_STATE: ChatState = {
  lines: [],
  roomState: null,
  me: null,
  viewerCount: null,
  poll: null,
  prediction: null,
};

/** A batch is applied frame by frame, in order, as if each had arrived alone. */
export function applyServerFrame(state: ChatState, frame: ServerFrame): ChatState {
  return frame.type === 'batch'
    ? frame.frames.reduce(applySingleFrame, state)
    : applySingleFrame(state, frame);
}

function applySingleFrame(state: ChatState, frame: BatchableFrame): ChatState {
  switch (frame.type) {
    case 'chat_message':
      return { ...state, lines: appendLines(state.lines, [frame]) };
    case 'history':
      // History arrives on every (re)join: it is the room's truth, so it replaces the list.
      return { ...state, lines: frame.messages.slice(-MAX_LINES) };
    case 'delete_message':
      return { ...state, lines: state.lines.filter((line) => line.id !== frame.id) };
    case 'clear_user':
      return { ...state, lines: state.lines.filter((line) => line.user?.id !== frame.user_id) };
    case 'clear_chat':
      return { ...state, lines: [] };
    case 'room_state': {
      const { type: _type, ...roomState } = frame;
      return { ...state, roomState };
    }
    case 'welcome':
      return { ...state, me: frame.user, roomState: frame.room_state };
    case 'notice':
      return { ...state, lines: appendLines(state.lines, [describeSystemLine(frame.message)]) };
    case 'error':
      return { ...state, lines: appendLines(state.lines, [describeSystemLine(frame.message)]) };
    case 'viewer_count':
      return { ...state, viewerCount: frame.count };
    case 'raid':
      return {
        ...state,
        lines: appendLines(state.lines, [
          describeSystemLine(`Raiding ${frame.to_channel.name} with ${frame.viewers} viewers…`),
        ]),
      };
    case 'sub_notice':
      // Twitch's own wording (system-msg): "x subscribed at Tier 1.", "x gifted a Tier 1 sub to y!",
      // and a shared resub's message after it.
      return {
        ...state,
        lines: appendLines(state.lines, [
          describeSystemLine(
            frame.message ? `${frame.system_message} “${frame.message}”` : frame.system_message,
          ),
        ]),
      };
    case 'poll':
      return {
        ...state,
        poll: frame.poll,
        lines:
          state.poll?.id === frame.poll.id && state.poll.status === frame.poll.status
            ? state.lines
            : appendLines(state.lines, [describeSystemLine(describePoll(frame.poll))]),
      };
    case 'prediction':
      return {
        ...state,
        prediction: frame.prediction,
        lines:
          state.prediction?.id === frame.prediction.id && state.prediction.status === frame.prediction.status
            ? state.lines
            : appendLines(state.lines, [describeSystemLine(describePrediction(frame.prediction))]),
      };
    case 'redemption':
      if (frame.redemption.status !== 'pending') return state;
      return {
        ...state,
        lines: appendLines(state.lines, [
          describeSystemLine(
            `${frame.redemption.user.login} redeemed ${frame.redemption.reward.title}${frame.redemption.input ? `: ${frame.redemption.input}` : ''}`,
          ),
        ]),
      };
    case 'pong':
      return state;
  }
}

export function appendLines(lines: ChatLine[], added: ChatLine[]): ChatLine[] {
  const next = lines.concat(added);
  return next.length > MAX_LINES ? next.slice(next.length - MAX_LINES) : next;
}

export function describeSystemLine(text: string): ChatLine {
  return { id: `system-${crypto.randomUUID()}`, user: null, content: text, emotes: [] };
}

/** Broadcasters and moderators see moderation actions on each message. */
export function canModerate(me: ChatState['me']): boolean {
  return me?.badges.some((badge) => badge.id === 'broadcaster' || badge.id === 'moderator') ?? false;
}

/** The chat line for a poll starting or ending (its live results are shown by the panel). */
function describePoll(poll: PollView): string {
  if (poll.status === 'active') return `Poll: ${poll.title}`;
  const top = [...poll.choices].sort((a, b) => b.votes - a.votes)[0];
  return `Poll ended: ${poll.title}${top ? ` — ${top.title} (${top.votes} votes)` : ''}`;
}

function describePrediction(prediction: PredictionView): string {
  switch (prediction.status) {
    case 'active':
      return `Prediction: ${prediction.title}`;
    case 'locked':
      return `Prediction locked: ${prediction.title}`;
    case 'resolved': {
      const winner = prediction.outcomes.find((outcome) => outcome.id === prediction.winning_outcome_id);
      return `Prediction resolved: ${prediction.title} — ${winner?.title ?? '?'} won`;
    }
    case 'canceled':
      return `Prediction canceled: ${prediction.title} (points refunded)`;
  }
}
