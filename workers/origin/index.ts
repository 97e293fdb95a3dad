// The origin: public LL-HLS playback under /live, the transcoder's internal ingest endpoint and the
// fleet endpoint its nodes register and heart-beat to.
import { Hono } from 'hono';
import { handleError } from '../shared/errors.ts';
import { fleetApp } from './fleet.ts';
import { ingestApp } from './ingest.ts';
import { playbackApp } from './playback.ts';

export const originApp = new Hono<{ Bindings: Env }>();
originApp.onError(handleError);
originApp.route('/internal/ingest', ingestApp);
originApp.route('/internal/fleet', fleetApp);
originApp.route('/live', playbackApp);

export type OriginApp = typeof originApp;
