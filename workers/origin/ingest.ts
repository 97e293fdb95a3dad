// The internal ingest endpoint the transcoder pushes to (contract: protocol/ingest.ts). Every call
// carries the shared INGEST_SECRET; uploads name their publish id, and a publish that is no
// longer the channel's publisher gets 409 so the transcoder drops that connection. Bytes go to
// R2 first, then the channel's LiveStream DO lists them: a listed URI always exists. A fleet node
// calls with its own node token: its publishes are placed by the fleet registry and it may upload
// only for those (fleet-placement.ts, docs/deploy.md).
//
// Each call of a publish carries its trace id (W3C `traceparent`, common/trace.ts): it goes on this
// endpoint's log lines and into the LiveStream object with the publish. A missing or malformed
// header is ignored (the call proceeds without a trace id), never refused.
import { zValidator } from '@hono/zod-validator';
import { Hono } from 'hono';
import { z } from 'zod';
import { log } from '../../common/log.ts';
import { parseTraceparent, TRACEPARENT_HEADER } from '../../common/trace.ts';
import type { BeginPublishResult } from '../../durable-objects/live-stream/types.ts';
import { getInitKey, getPartKey, getSegmentKey, getThumbnailKey } from '../../media/live-keys.ts';
import {
  AuthorizeRequest,
  EndRequest,
  INGEST_META_HEADER,
  IngestHeartbeat,
  IngestMeta,
  type RelayTargetResponse,
  RenditionName,
  type SourceHealth,
  SrtPassphraseRequest,
  type StandbyClaimResponse,
  type YieldResponse,
} from '../../protocol/ingest.ts';
import { ApiError, badRequest, conflict, handleError, unauthorized } from '../shared/errors.ts';
import { deriveSrtPassphrase, findChannelByStreamKey } from '../shared/stream-keys.ts';
import { getFleetRegistry } from './fleet.ts';
import { authenticateIngest, type IngestCaller } from './fleet-credentials.ts';
import { assertHolder, placePublish, releasePlacement } from './fleet-placement.ts';

const validationHook = (result: { success: boolean; error?: { issues: unknown } }) => {
  if (!result.success) throw badRequest('Request validation failed', result.error?.issues);
};

const UploadPath = z.object({ channelId: z.string().min(1).max(200), publishId: z.uuid() });
const MediaPath = UploadPath.extend({ rendition: RenditionName });
const Index = z.coerce.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const PartPath = MediaPath.extend({ msn: Index, part: Index });
const SegmentPath = MediaPath.extend({ msn: Index });

/** Reads X-Ingest-Meta; each handler then insists on the kind and numbers its path names. */
function readMeta(header: string | undefined): IngestMeta {
  if (!header) throw badRequest(`Missing ${INGEST_META_HEADER}`);
  let json: unknown;
  try {
    json = JSON.parse(header);
  } catch {
    throw badRequest(`${INGEST_META_HEADER} is not JSON`);
  }
  const parsed = IngestMeta.safeParse(json);
  if (!parsed.success) throw badRequest(`Invalid ${INGEST_META_HEADER}`, parsed.error.issues);
  return parsed.data;
}

function refusePublish(): ApiError {
  return conflict('This publish is no longer the channel publisher');
}

interface KnownPublish {
  streamId: string;
  publish: number;
}

/** Publishes this isolate has seen, by channel and publish id; a bounded memo (oldest forgotten first). */
const MAX_KNOWN_PUBLISHES = 1000;
/** A heartbeat's health body is a few hundred bytes; more is refused before it is read. */
const MAX_HEARTBEAT_BODY_BYTES = 4096;
const knownPublishes = new Map<string, KnownPublish>();

/**
 * Remembers the stream and publish number of a publish id. Both are fixed for the life of the
 * publish id, so a remembered value is never wrong; whether the publish is still current is asked
 * of the LiveStream object at every commit.
 */
function rememberPublish(key: string, known: KnownPublish): void {
  knownPublishes.delete(key);
  knownPublishes.set(key, known);
  if (knownPublishes.size > MAX_KNOWN_PUBLISHES) {
    const oldest = knownPublishes.keys().next();
    if (!oldest.done) knownPublishes.delete(oldest.value);
  }
}

const ingestLog = log.child({ component: 'ingest' });
/** Ids taken from a path for a log line: the route's own validator bounds them; this bounds the line. */
const MAX_LOGGED_ID_LENGTH = 200;

export const ingestApp = new Hono<{
  Bindings: Env;
  Variables: { caller: IngestCaller; traceId: string | undefined };
}>();
ingestApp.onError(handleError);

// INGEST_SECRET (compared in constant time) or a node token (fleet-credentials.ts).
ingestApp.use('*', async (c, next) => {
  const caller = await authenticateIngest(c.req.header('authorization'), c.env.INGEST_SECRET);
  if (caller === null) throw unauthorized('Bad ingest secret');
  c.set('caller', caller);
  await next();
});

// The publish's trace id, for the lines below and the LiveStream object. Success is logged only at
// a publish's milestones (authorize, each init, end): a line per part would be ~30 a second per
// stream. Every refused or failed call of a known caller is logged here, with its trace id.
ingestApp.use('*', async (c, next) => {
  const traceId = parseTraceparent(c.req.header(TRACEPARENT_HEADER))?.traceId;
  c.set('traceId', traceId);
  await next();
  const status = c.res.status;
  if (status < 400) return;
  // /internal/ingest/authorize, or /internal/ingest/:channelId/:publishId/:kind/...
  const [, , , first, publishId, kind] = new URL(c.req.url).pathname.split('/');
  const fields = {
    trace_id: traceId,
    status,
    code: c.error instanceof ApiError ? c.error.code : undefined,
    call: (kind ?? first ?? '').slice(0, 20),
    channel_id: kind === undefined ? undefined : first?.slice(0, MAX_LOGGED_ID_LENGTH),
    publish_id: publishId?.slice(0, MAX_LOGGED_ID_LENGTH),
  };
  // A refusal the endpoint chose (a stale publish, a full fleet's 503) is a warning; anything else
  // is a bug, logged by handleError with its stack and here with the trace.
  if (status >= 500 && !(c.error instanceof ApiError)) ingestLog.error('ingest_call_failed', fields);
  else ingestLog.warn('ingest_call_refused', fields);
});

// Uploads of a node: only for the publishes placed on it (409 otherwise).
ingestApp.use('/:channelId/:publishId/*', async (c, next) => {
  // A malformed id is left to the route's validator (400).
  const publishId = z.uuid().safeParse(c.req.param('publishId'));
  if (publishId.success) await assertHolder(c.env, c.get('caller'), publishId.data);
  await next();
});

ingestApp.post('/authorize', zValidator('json', AuthorizeRequest, validationHook), async (c) => {
  const { stream_key, backup, relay } = c.req.valid('json');
  const channel = await findChannelByStreamKey(c.env.DB, stream_key);
  // "a bad key gets NetStream.Publish.BadName and the connection closes; nothing is created."
  if (!channel) throw new ApiError(403, 'bad_stream_key', 'Unknown stream key');
  const traceId = c.get('traceId');
  const begin = async (): Promise<BeginPublishResult> =>
    c.env.LIVE_STREAM.getByName(channel.id).beginPublish({
      channelId: channel.id,
      tier: channel.tier,
      traceId: traceId ?? null,
      backup: backup === true,
      relay: relay === true,
      defaults: {
        title: channel.title,
        category_id: channel.category_id,
        language: channel.language,
        tags: channel.tags,
      },
    });
  // A fleet node's publish is placed on it first; a full fleet answers 503 with the reason.
  // The stalled publish a takeover replaced (its node dead, or cut off at its next upload) gives its
  // slots back in the same call that binds the new one.
  const result = await placePublish(c.env, c.get('caller'), channel, begin, (started) =>
    started.ok
      ? { publishId: started.value.publish_id, streamId: started.value.stream_id, replaced: started.replaced }
      : null,
  );
  if (!result.ok) throw new ApiError(409, 'already_publishing', 'Another publisher is live on this channel');
  if (result.replaced !== null) {
    const caller = c.get('caller');
    log.info('ingest.publish_taken_over', {
      trace_id: traceId,
      channel_id: channel.id,
      stream_id: result.value.stream_id,
      ...(caller.kind === 'node' ? { node_id: caller.nodeId } : {}),
      replaced_publish_id: result.replaced,
    });
  }
  ingestLog.info('publish_authorized', {
    trace_id: traceId,
    channel_id: channel.id,
    stream_id: result.value.stream_id,
    publish_id: result.value.publish_id,
    continued: result.value.continued,
    next_msn: result.value.next_msn,
    standby: result.value.standby === true ? true : undefined,
  });
  return c.json(result.value);
});

// A dual publish's standby asks whether to go on air (docs/deploy.md, "Dual publish"); 409 once it
// is not the standby any more (ended, replaced, its key reset). Promoted, it takes over the stream,
// and the placement of the publish it replaced (on the node that died) is given back.
ingestApp.post(
  '/:channelId/:publishId/standby',
  zValidator('param', UploadPath, validationHook),
  async (c) => {
    const { channelId, publishId } = c.req.valid('param');
    const claim = await c.env.LIVE_STREAM.getByName(channelId).claimStandby(publishId);
    if (claim.kind === 'gone') {
      // A standby replaced, revoked or forgotten: its node closes it, and its slots are free at once.
      if (claim.stale)
        await releasePlacement(c.env, c.get('caller'), publishId).catch((error: unknown) =>
          ingestLog.error('placement_release_failed', { publish_id: publishId, error: String(error) }),
        );
      throw conflict("This publish is not the stream's standby");
    }
    if (claim.kind === 'standby') return c.json({ state: 'standby' } satisfies StandbyClaimResponse);
    // The stream is the standby's already: a failure here must not lose that answer (the registry's
    // claim reconciliation frees the dead node's slots later anyway). A relay's source, demoted to
    // standby, keeps its slots.
    if (claim.replaced !== null && !claim.demoted)
      await releasePlacement(c.env, c.get('caller'), claim.replaced).catch((error: unknown) =>
        ingestLog.error('placement_release_failed', {
          publish_id: claim.replaced ?? undefined,
          error: String(error),
        }),
      );
    ingestLog.info('standby_promoted', {
      trace_id: c.get('traceId'),
      channel_id: channelId,
      publish_id: publishId,
      replaced_publish_id: claim.replaced ?? undefined,
      next_msn: claim.nextMsn,
    });
    return c.json({
      state: 'promoted',
      next_msn: claim.nextMsn,
      after_pdt: claim.afterPdt,
    } satisfies StandbyClaimResponse);
  },
);

// The publish on air says its transcode failed (docs/deploy.md, "Relayed standby"): the stream's live
// standby goes on air and this publish becomes the standby; 'kept' when there is none to hand over to.
ingestApp.post('/:channelId/:publishId/yield', zValidator('param', UploadPath, validationHook), async (c) => {
  const { channelId, publishId } = c.req.valid('param');
  const outcome = await c.env.LIVE_STREAM.getByName(channelId).yieldAir(publishId);
  if (outcome.kind === 'gone') throw refusePublish();
  if (outcome.kind === 'standby')
    ingestLog.info('publish_yielded', {
      trace_id: c.get('traceId'),
      channel_id: channelId,
      publish_id: publishId,
    });
  return c.json({ state: outcome.kind } satisfies YieldResponse);
});

// Where a fleet node relays the source of a publish placed on it, for a standby on another node
// (docs/deploy.md, "Relayed standby"); null for a single transcoder or when no other node has room.
ingestApp.post(
  '/:channelId/:publishId/relay-target',
  zValidator('param', UploadPath, validationHook),
  async (c) => {
    const { publishId } = c.req.valid('param');
    const caller = c.get('caller');
    const rtmpUrl =
      caller.kind === 'node' ? await getFleetRegistry(c.env).pickRelayTarget(caller.nodeId, publishId) : null;
    return c.json({ rtmp_url: rtmpUrl } satisfies RelayTargetResponse);
  },
);

// SRT ingest (docs/srt.md): the node unwraps the caller's key material with this passphrase before
// it asks to authorize, so a wrong passphrase (or a bad key) is refused with nothing created.
ingestApp.post('/srt-passphrase', zValidator('json', SrtPassphraseRequest, validationHook), async (c) => {
  const { stream_key } = c.req.valid('json');
  const channel = await findChannelByStreamKey(c.env.DB, stream_key);
  if (!channel) throw new ApiError(403, 'bad_stream_key', 'Unknown stream key');
  return c.json({ passphrase: await deriveSrtPassphrase(c.env.STREAM_KEY_SECRET, stream_key) });
});

ingestApp.put(
  '/:channelId/:publishId/init/:rendition',
  zValidator('param', MediaPath, validationHook),
  async (c) => {
    const { channelId, publishId, rendition } = c.req.valid('param');
    const meta = readMeta(c.req.header(INGEST_META_HEADER));
    if (meta.kind !== 'init' || meta.rendition !== rendition)
      throw badRequest('X-Ingest-Meta does not describe this init');
    const stub = c.env.LIVE_STREAM.getByName(channelId);
    const reserved = await stub.reserveInit(publishId, rendition);
    if (!reserved.ok) throw refusePublish();
    rememberPublish(`${channelId}/${publishId}`, { streamId: reserved.streamId, publish: reserved.publish });
    await c.env.MEDIA.put(
      getInitKey(reserved.streamId, rendition, reserved.init),
      await c.req.arrayBuffer(),
      {
        httpMetadata: { contentType: 'video/mp4' },
      },
    );
    if (!(await stub.commitInit(publishId, meta, reserved.init))) throw refusePublish();
    ingestLog.info('ingest_init_committed', {
      trace_id: c.get('traceId'),
      channel_id: channelId,
      stream_id: reserved.streamId,
      publish_id: publishId,
      rendition,
      init: reserved.init,
    });
    return c.body(null, 204);
  },
);

ingestApp.put(
  '/:channelId/:publishId/part/:rendition/:msn/:part',
  zValidator('param', PartPath, validationHook),
  async (c) => {
    const { channelId, publishId, rendition, msn, part } = c.req.valid('param');
    const meta = readMeta(c.req.header(INGEST_META_HEADER));
    if (meta.kind !== 'part' || meta.rendition !== rendition || meta.msn !== msn || meta.part !== part) {
      throw badRequest('X-Ingest-Meta does not describe this part');
    }
    const stub = c.env.LIVE_STREAM.getByName(channelId);
    // Five parts a second per rendition: one R2 put and one call to the LiveStream object each.
    // The key needs the stream id and publish number, remembered from the init upload (asked only
    // when this isolate has not seen the publish); commitPart checks the publisher itself.
    const memoKey = `${channelId}/${publishId}`;
    let known = knownPublishes.get(memoKey);
    if (!known) {
      const check = await stub.checkPublisher(publishId);
      if (!check.ok) throw refusePublish();
      known = { streamId: check.streamId, publish: check.publish };
      rememberPublish(memoKey, known);
    }
    // "Parts are written to R2 BEFORE the DO lists them." A publish that turns out to be stale
    // leaves bytes under its own publish number, which no playlist names and the parts sweep removes.
    await c.env.MEDIA.put(
      getPartKey(known.streamId, rendition, msn, part, known.publish),
      await c.req.arrayBuffer(),
      { httpMetadata: { contentType: 'video/mp4' } },
    );
    if (!(await stub.commitPart(publishId, meta))) throw refusePublish();
    return c.body(null, 204);
  },
);

ingestApp.put(
  '/:channelId/:publishId/segment/:rendition/:msn',
  zValidator('param', SegmentPath, validationHook),
  async (c) => {
    const { channelId, publishId, rendition, msn } = c.req.valid('param');
    const meta = readMeta(c.req.header(INGEST_META_HEADER));
    if (meta.kind !== 'segment' || meta.rendition !== rendition || meta.msn !== msn)
      throw badRequest('X-Ingest-Meta does not describe this segment');
    const stub = c.env.LIVE_STREAM.getByName(channelId);
    const check = await stub.checkPublisher(publishId);
    if (!check.ok) throw refusePublish();
    await c.env.MEDIA.put(getSegmentKey(check.streamId, rendition, msn), await c.req.arrayBuffer(), {
      httpMetadata: { contentType: 'video/mp4' },
    });
    if (!(await stub.commitSegment(publishId, meta))) throw refusePublish();
    return c.body(null, 204);
  },
);

ingestApp.put(
  '/:channelId/:publishId/thumbnail',
  zValidator('param', UploadPath, validationHook),
  async (c) => {
    const { channelId, publishId } = c.req.valid('param');
    const stub = c.env.LIVE_STREAM.getByName(channelId);
    const check = await stub.checkPublisher(publishId);
    if (!check.ok) throw refusePublish();
    await c.env.MEDIA.put(getThumbnailKey(check.streamId), await c.req.arrayBuffer(), {
      httpMetadata: { contentType: 'image/jpeg' },
    });
    if (!(await stub.commitThumbnail(publishId))) throw refusePublish();
    return c.body(null, 204);
  },
);

ingestApp.post(
  '/:channelId/:publishId/heartbeat',
  zValidator('param', UploadPath, validationHook),
  async (c) => {
    const { channelId, publishId } = c.req.valid('param');
    // The body (the source's health, protocol/ingest.ts) is optional: an empty beat is still a beat.
    if (Number(c.req.header('Content-Length') ?? 0) > MAX_HEARTBEAT_BODY_BYTES)
      throw badRequest('Heartbeat body too large');
    const text = await c.req.text();
    if (text.length > MAX_HEARTBEAT_BODY_BYTES) throw badRequest('Heartbeat body too large');
    let health: SourceHealth | undefined;
    if (text !== '') {
      let json: unknown = null;
      try {
        json = JSON.parse(text);
      } catch {
        // refused below
      }
      const parsed = IngestHeartbeat.safeParse(json);
      if (!parsed.success) throw badRequest('Malformed heartbeat body');
      health = parsed.data.health;
    }
    if (!(await c.env.LIVE_STREAM.getByName(channelId).heartbeat(publishId, health))) throw refusePublish();
    return c.body(null, 204);
  },
);

ingestApp.post(
  '/:channelId/:publishId/end',
  zValidator('param', UploadPath, validationHook),
  zValidator('json', EndRequest, validationHook),
  async (c) => {
    const { channelId, publishId } = c.req.valid('param');
    const { reason } = c.req.valid('json');
    const byEncoder = reason === 'publisher_closed';
    if (!(await c.env.LIVE_STREAM.getByName(channelId).endPublish(publishId, byEncoder)))
      throw refusePublish();
    await releasePlacement(c.env, c.get('caller'), publishId);
    ingestLog.info('publish_ended', {
      trace_id: c.get('traceId'),
      channel_id: channelId,
      publish_id: publishId,
      reason,
    });
    return c.body(null, 204);
  },
);
