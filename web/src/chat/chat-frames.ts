// The server → client frames of protocol/chat.ts, restated with zod/mini for the browser. The
// protocol file uses zod's chained API, which cannot be tree-shaken: importing it put all of zod
// (~60 KB gzip) in the first bundle, ahead of the player. These schemas parse the same frames with
// the same rules; their output must be assignable to the protocol's `ServerFrame` (use-chat.ts hands
// it to `applyServerFrame`, typed by the protocol), so tsc fails if a field drifts out of step.
// Client → server frames are only ever built here, never parsed, so they need no mirror.
import * as z from 'zod/mini';

const NonNegativeInt = z.int().check(z.nonnegative());

const Badge = z.object({ id: z.string(), version: z.string() });

const ChatUser = z.object({
  id: z.string(),
  name: z.string(),
  display_name: z.string(),
  color: z.string(),
  badges: z.array(Badge),
});

const EmoteRef = z.object({
  id: z.string(),
  name: z.string(),
  positions: z.array(z.tuple([NonNegativeInt, NonNegativeInt])),
  url: z.string(),
});

const RoomStateFields = {
  slow_seconds: NonNegativeInt,
  subscribers_only: z.boolean(),
  emote_only: z.boolean(),
  followers_only_minutes: z.int().check(z.gte(-1)),
  unique_chat: z.boolean(),
};
const RoomState = z.object(RoomStateFields);

const ChatErrorCode = z.enum([
  'rate_limited',
  'banned',
  'timed_out',
  'msg_too_long',
  'slow_mode',
  'subs_only',
  'emote_only',
  'followers_only',
  'duplicate',
  'banned_word',
  'unauthorized',
  'forbidden',
  'invalid_frame',
  'unknown_command',
]);

const ChatMessageFrame = z.object({
  type: z.literal('chat_message'),
  id: z.string(),
  channel_id: z.string(),
  user: ChatUser,
  content: z.string(),
  emotes: z.array(EmoteRef),
  timestamp: z.string(),
  highlighted: z.optional(z.boolean()),
});

const BATCHABLE_FRAMES = [
  ChatMessageFrame,
  z.object({ type: z.literal('history'), messages: z.array(ChatMessageFrame) }),
  z.object({ type: z.literal('delete_message'), id: z.string() }),
  z.object({
    type: z.literal('clear_user'),
    user_id: z.string(),
    duration_seconds: z.nullable(z.int().check(z.positive())),
  }),
  z.object({ type: z.literal('clear_chat') }),
  z.object({ type: z.literal('room_state'), ...RoomStateFields }),
  z.object({ type: z.literal('notice'), code: z.string(), message: z.string() }),
  z.object({
    type: z.literal('error'),
    code: ChatErrorCode,
    message: z.string(),
    retry_after_ms: z.optional(NonNegativeInt),
  }),
  z.object({
    type: z.literal('raid'),
    from_channel: z.string(),
    to_channel: z.object({ id: z.string(), name: z.string() }),
    viewers: NonNegativeInt,
  }),
  z.object({ type: z.literal('viewer_count'), count: NonNegativeInt }),
  z.object({ type: z.literal('welcome'), user: z.nullable(ChatUser), room_state: RoomState }),
  z.object({ type: z.literal('pong') }),
] as const;

const BatchableFrame = z.discriminatedUnion('type', [...BATCHABLE_FRAMES]);

/** Every frame the chat server sends; a `batch` carries single frames in order and never nests. */
export const ServerFrameSchema = z.discriminatedUnion('type', [
  ...BATCHABLE_FRAMES,
  z.object({ type: z.literal('batch'), frames: z.array(BatchableFrame) }),
]);
