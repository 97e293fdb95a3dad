// The origin: public LL-HLS playback under /live and the transcoder's internal ingest endpoint.
import { Hono } from 'hono';
import { handleError } from '../shared/errors.ts';
import { ingestApp } from './ingest.ts';
import { playbackApp } from './playback.ts';

export const originApp = new Hono<{ Bindings: Env }>();
originApp.onError(handleError);
originApp.route('/internal/ingest', ingestApp);
originApp.route('/live', playbackApp);

export type OriginApp = typeof originApp;
