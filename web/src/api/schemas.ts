// Shapes of the /api/v1 responses the app reads. Every response is parsed with these before use
// (never cast): the API is young, so fields the UI can live without are optional and unknown fields
// are dropped. zod/mini keeps the bundle small (it tree-shakes, unlike the chained API).
import * as z from 'zod/mini';

const OptionalString = z.nullish(z.string());
const OptionalNumber = z.nullish(z.number());
// Times are epoch milliseconds in D1; the seeds show ISO strings. Accept both.
const Timestamp = z.union([z.number(), z.string()]);

// A category arrives as a name, a slug, or an object, depending on the endpoint.
export const CategoryRefSchema = z.union([
  z.string(),
  z.object({ id: z.optional(z.union([z.number(), z.string()])), slug: OptionalString, name: z.string() }),
]);
export type CategoryRef = z.infer<typeof CategoryRefSchema>;

export const UserSchema = z.object({
  id: z.string(),
  username: z.string(),
  created_at: z.optional(Timestamp),
});
export type User = z.infer<typeof UserSchema>;

export const ChannelSchema = z.object({
  id: z.string(),
  name: z.string(),
  display_name: OptionalString,
  description: OptionalString,
  avatar_url: OptionalString,
  banner_url: OptionalString,
  follower_count: OptionalNumber,
  tier: OptionalString,
  title: OptionalString,
  category: z.nullish(CategoryRefSchema),
  tags: z.nullish(z.array(z.string())),
  language: OptionalString,
  is_live: z.nullish(z.boolean()),
  chat_websocket: OptionalString,
});
export type Channel = z.infer<typeof ChannelSchema>;

export const SessionSchema = z.object({
  token: z.string(),
  user: UserSchema,
  channel: z.nullish(ChannelSchema),
});
export type Session = z.infer<typeof SessionSchema>;

export const MeSchema = z.union([
  z.object({ user: UserSchema, channel: z.nullish(ChannelSchema) }),
  UserSchema,
]);

export const StreamSchema = z.object({
  stream_id: z.string(),
  channel: z.object({
    id: z.string(),
    name: z.string(),
    display_name: OptionalString,
    avatar: OptionalString,
  }),
  title: OptionalString,
  category: z.nullish(CategoryRefSchema),
  tags: z.nullish(z.array(z.string())),
  viewer_count: z.number(),
  started_at: z.nullish(Timestamp),
  thumbnail_url: OptionalString,
  manifest_url: z.string(),
  chat_websocket: OptionalString,
  renditions: z.nullish(z.array(z.unknown())),
});
export type LiveStream = z.infer<typeof StreamSchema>;

export function pageOf<T extends z.ZodMiniType>(item: T) {
  return z.object({ data: z.array(item), cursor: z.nullish(z.string()) });
}

export const CategorySchema = z.object({
  id: z.optional(z.union([z.number(), z.string()])),
  slug: z.string(),
  name: z.string(),
  live_viewers: OptionalNumber,
  box_art_url: OptionalString,
});
export type Category = z.infer<typeof CategorySchema>;

export const CategoryListSchema = z.union([z.array(CategorySchema), pageOf(CategorySchema)]);

export const SearchResultSchema = z.object({
  channels: z.array(ChannelSchema),
  streams: z.array(StreamSchema),
});

export const FollowSchema = z.object({
  channel: ChannelSchema,
  followed_at: z.nullish(Timestamp),
  stream: z.nullish(StreamSchema),
});
export const FollowListSchema = z.object({ data: z.array(FollowSchema) });

export const StreamKeySchema = z.object({ stream_key: z.string(), ingest_url: z.string() });

export const VodSchema = z.object({
  id: z.string(),
  stream_id: OptionalString,
  channel_id: OptionalString,
  title: OptionalString,
  duration_seconds: OptionalNumber,
  thumbnail_url: OptionalString,
  created_at: z.nullish(Timestamp),
  playback_url: z.string(),
});
export type Vod = z.infer<typeof VodSchema>;

// A channel emote as workers/api/emotes.ts answers it (the name is the text that turns into the
// image); the list comes as `{emotes: [...]}`.
export const EmoteSchema = z.object({
  id: z.string(),
  name: z.string(),
  channel_id: OptionalString,
  subscriber_only: z.optional(z.boolean()),
  url: z.string(),
});
export type Emote = z.infer<typeof EmoteSchema>;
export const EmoteListSchema = z.object({ emotes: z.array(EmoteSchema) });

// Chat replay messages carry the same user and emote shapes as live chat (protocol/chat.ts).
const ReplayUserSchema = z.object({
  id: OptionalString,
  name: z.string(),
  display_name: OptionalString,
  color: OptionalString,
  badges: z.nullish(z.array(z.object({ id: z.string(), version: z.string() }))),
});
const ReplayEmoteSchema = z.object({
  id: z.string(),
  name: z.string(),
  positions: z.array(z.tuple([z.number(), z.number()])),
  url: z.string(),
});

export const ReplayMessageSchema = z.object({
  id: z.string(),
  offset_seconds: z.number(),
  user: ReplayUserSchema,
  content: z.string(),
  emotes: z.nullish(z.array(ReplayEmoteSchema)),
});
export type ReplayMessage = z.infer<typeof ReplayMessageSchema>;
export const VodChatSchema = z.object({ messages: z.array(ReplayMessageSchema) });

export const ClipCreatedSchema = z.object({
  clip_id: z.string(),
  url: OptionalString,
  status: z.string(),
});

export const ClipSchema = z.object({
  id: z.string(),
  url: OptionalString,
  status: z.string(),
  title: OptionalString,
  duration_seconds: OptionalNumber,
  view_count: OptionalNumber,
  channel: z.nullish(z.object({ id: z.string(), name: z.string(), display_name: OptionalString })),
  created_at: z.nullish(Timestamp),
  thumbnail_url: OptionalString,
});
export type Clip = z.infer<typeof ClipSchema>;

// Chat settings use the names of the room state in protocol/chat.ts, plus the banned words.
export const ChatSettingsSchema = z.object({
  slow_seconds: OptionalNumber,
  subscribers_only: z.nullish(z.boolean()),
  emote_only: z.nullish(z.boolean()),
  followers_only_minutes: OptionalNumber,
  unique_chat: z.nullish(z.boolean()),
  banned_words: z.nullish(z.array(z.string())),
});
export type ChatSettings = z.infer<typeof ChatSettingsSchema>;

// A channel's moderators or VIPs (GET /channels/{id}/moderators|vips, broadcaster and moderators).
export const RoleMemberSchema = z.object({
  user_id: z.string(),
  username: z.string(),
  created_at: z.optional(Timestamp),
});
export type RoleMember = z.infer<typeof RoleMemberSchema>;
export const RoleListSchema = z.object({ data: z.array(RoleMemberSchema) });

export const ErrorBodySchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.optional(z.unknown()) }),
});

export const EmptySchema = z.unknown();

export function describeCategory(category: CategoryRef | null | undefined): string {
  if (category === null || category === undefined) return '';
  return typeof category === 'string' ? category : category.name;
}

export function readCategorySlug(category: CategoryRef | null | undefined): string | undefined {
  if (category === null || category === undefined) return undefined;
  if (typeof category === 'string') return category;
  return category.slug ?? undefined;
}
