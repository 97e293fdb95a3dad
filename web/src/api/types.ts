// Names for the API's answers as the web app uses them, derived from the typed client (so from the
// API's own zod schemas, workers/api/): a change to an answer's shape is a compile error here or
// where a page reads it, never a silent drift.
import type { InferResponseType } from 'hono/client';
import type { api } from './client.ts';

export type Me = InferResponseType<typeof api.users.me.$get, 200>;
export type User = Me['user'];
export type Channel = InferResponseType<(typeof api.channels)[':id']['$get'], 200>;
export type Session = InferResponseType<typeof api.auth.login.$post, 200>;
/** A live stream as lists show it; the watch endpoint adds `whep_url` (WatchableStream). */
export type LiveStream = StreamPage['data'][number];
export type WatchableStream = InferResponseType<(typeof api.streams)[':channel_id']['live']['$get'], 200>;
export type StreamPage = InferResponseType<typeof api.streams.$get, 200>;
export type Category = InferResponseType<(typeof api.categories)[':slug']['$get'], 200>;
export type Vod = InferResponseType<(typeof api.vods)[':id']['$get'], 200>;
export type ReplayMessage = InferResponseType<
  (typeof api.vods)[':id']['chat']['$get'],
  200
>['messages'][number];
export type Clip = InferResponseType<(typeof api.clips)[':id']['$get'], 200>;
export type Emote = InferResponseType<(typeof api.channels)[':id']['emotes']['$get'], 200>['emotes'][number];
export type ChatSettings = InferResponseType<(typeof api.channels)[':id']['chat']['settings']['$get'], 200>;
export type SessionInfo = InferResponseType<typeof api.auth.sessions.$get, 200>['data'][number];
