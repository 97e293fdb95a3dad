// HTTP client of the origin's internal ingest endpoint (protocol/ingest.ts): authorizes a publish,
// then pushes init segments, parts, segments and thumbnails. Transient failures are retried with
// jittered backoff; a 409 means this publish was cut off and surfaces as CutOffError. Every call
// for a publish carries its trace id as a W3C `traceparent` header, a fresh span id per request.

import type { z } from 'zod';
import { formatTraceparent, TRACEPARENT_HEADER } from '../../../../common/trace.ts';
import {
  type AuthorizeRequest,
  AuthorizeResponse,
  EndRequest,
  INGEST_META_HEADER,
  IngestHeartbeat,
  IngestMeta,
  type InitMeta,
  type PartMeta,
  RelayTargetResponse,
  type SegmentMeta,
  type SourceHealth,
  SrtPassphraseResponse,
  StandbyClaimResponse,
  YieldResponse,
} from '../../../../protocol/ingest.ts';
import { FleetRefusalError, readFleetRefusal } from '../fleet/fleet-refusal.ts';

export interface PublishRef {
  channelId: string;
  publishId: string;
  /** The publish's trace id (PublishSession.traceId): sent as `traceparent` on every call. */
  traceId?: string;
}

export type AuthorizeResult =
  | { ok: true; grant: AuthorizeResponse }
  | { ok: false; reason: 'bad_key' | 'already_publishing' | 'unavailable'; message?: string };

/** The origin answered 409: this publish was superseded or its key was reset. Drop the publisher. */
export class CutOffError extends Error {
  override readonly name = 'CutOffError';
}

/** A request that failed for good: a 4xx other than 409, or retries exhausted. */
export class IngestRequestError extends Error {
  override readonly name = 'IngestRequestError';
  readonly status: number | null;
  readonly attempts: number;

  constructor(message: string, status: number | null, attempts: number) {
    super(message);
    this.status = status;
    this.attempts = attempts;
  }
}

export interface RetryPolicy {
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 50, maxDelayMs: 1000 };
const REQUEST_TIMEOUT_MS = 10_000;

export interface IngestClientOptions {
  baseUrl: string;
  secret: string;
  fetch?: typeof fetch;
  retry?: Partial<RetryPolicy>;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function parseJsonOrNull(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 429;
}

export class IngestClient {
  readonly #baseUrl: string;
  readonly #secret: string;
  readonly #fetch: typeof fetch;
  readonly #retry: RetryPolicy;

  constructor(options: IngestClientOptions) {
    this.#baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#secret = options.secret;
    this.#fetch = options.fetch ?? fetch;
    this.#retry = { ...DEFAULT_RETRY, ...options.retry };
  }

  /** Asks the origin whether a stream key may publish, before NetStream.Publish.Start is sent. */
  async authorize(request: AuthorizeRequest, traceId?: string): Promise<AuthorizeResult> {
    let responseText: string;
    try {
      responseText = await this.#send('POST', '/internal/ingest/authorize', {
        body: JSON.stringify(request),
        contentType: 'application/json',
        traceId,
      });
    } catch (error) {
      if (error instanceof CutOffError) return { ok: false, reason: 'already_publishing' };
      // A full fleet (or a draining node) is not an outage: the publisher hears the reason.
      if (error instanceof FleetRefusalError)
        return { ok: false, reason: 'unavailable', message: error.message };
      if (error instanceof IngestRequestError && (error.status === 403 || error.status === 401)) {
        return { ok: false, reason: 'bad_key' };
      }
      return { ok: false, reason: 'unavailable' };
    }
    const grant = AuthorizeResponse.safeParse(parseJsonOrNull(responseText));
    return grant.success ? { ok: true, grant: grant.data } : { ok: false, reason: 'unavailable' };
  }

  async putInit(publish: PublishRef, meta: InitMeta, bytes: Uint8Array): Promise<void> {
    await this.#putMedia(
      publish,
      `init/${encodeURIComponent(meta.rendition)}`,
      { kind: 'init', ...meta },
      bytes,
    );
  }

  async putPart(publish: PublishRef, meta: PartMeta, bytes: Uint8Array): Promise<void> {
    const path = `part/${encodeURIComponent(meta.rendition)}/${meta.msn}/${meta.part}`;
    await this.#putMedia(publish, path, { kind: 'part', ...meta }, bytes);
  }

  async putSegment(publish: PublishRef, meta: SegmentMeta, bytes: Uint8Array): Promise<void> {
    const path = `segment/${encodeURIComponent(meta.rendition)}/${meta.msn}`;
    await this.#putMedia(publish, path, { kind: 'segment', ...meta }, bytes);
  }

  async putThumbnail(publish: PublishRef, jpeg: Uint8Array): Promise<void> {
    await this.#send('PUT', `${this.#publishPath(publish)}/thumbnail`, {
      body: jpeg,
      contentType: 'image/jpeg',
      traceId: publish.traceId,
    });
  }

  /**
   * The channel's SRT passphrase for a stream key (a read-only lookup, docs/srt.md): bad_key for an
   * unknown key, unavailable when the origin cannot answer. Nothing is created either way.
   */
  async srtPassphrase(
    streamKey: string,
    traceId?: string,
  ): Promise<{ ok: true; passphrase: string } | { ok: false; reason: 'bad_key' | 'unavailable' }> {
    let responseText: string;
    try {
      responseText = await this.#send('POST', '/internal/ingest/srt-passphrase', {
        body: JSON.stringify({ stream_key: streamKey }),
        contentType: 'application/json',
        traceId,
      });
    } catch (error) {
      if (error instanceof IngestRequestError && (error.status === 403 || error.status === 401)) {
        return { ok: false, reason: 'bad_key' };
      }
      return { ok: false, reason: 'unavailable' };
    }
    const parsed = SrtPassphraseResponse.safeParse(parseJsonOrNull(responseText));
    return parsed.success
      ? { ok: true, passphrase: parsed.data.passphrase }
      : { ok: false, reason: 'unavailable' };
  }

  /** Resolves while the publish is current; throws CutOffError once the origin has cut it off. */
  async heartbeat(publish: PublishRef, health?: SourceHealth): Promise<void> {
    await this.#send('POST', `${this.#publishPath(publish)}/heartbeat`, {
      traceId: publish.traceId,
      ...(health
        ? { body: JSON.stringify(IngestHeartbeat.parse({ health })), contentType: 'application/json' }
        : {}),
    });
  }

  /**
   * A dual publish's standby asks whether to go on air: its state, or CutOffError (409) once it is
   * not the stream's standby any more. One attempt: the next claim comes STANDBY_CLAIM_INTERVAL_MS later.
   */
  async claimStandby(publish: PublishRef): Promise<StandbyClaimResponse> {
    return this.#askPublish(publish, 'standby', StandbyClaimResponse, 1);
  }

  /**
   * The publish on air says its transcode failed: whether it handed the air to the stream's standby
   * (and is the standby now) or keeps it. CutOffError (409) when it is not the publisher any more.
   */
  async yieldAir(publish: PublishRef): Promise<YieldResponse> {
    return this.#askPublish(publish, 'yield', YieldResponse, 2);
  }

  /** Where a fleet node relays this publish's source for a standby; null when nowhere now. */
  async relayTarget(publish: PublishRef): Promise<string | null> {
    return (await this.#askPublish(publish, 'relay-target', RelayTargetResponse, 1)).rtmp_url;
  }

  /** A bodiless POST about a publish whose JSON answer `schema` reads; a malformed one throws. */
  async #askPublish<T>(
    publish: PublishRef,
    call: 'standby' | 'yield' | 'relay-target',
    schema: z.ZodType<T>,
    attempts: number,
  ): Promise<T> {
    const text = await this.#send('POST', `${this.#publishPath(publish)}/${call}`, {
      traceId: publish.traceId,
      attempts,
    });
    const parsed = schema.safeParse(parseJsonOrNull(text));
    if (!parsed.success) throw new IngestRequestError(`Malformed ${call} answer`, null, 1);
    return parsed.data;
  }

  async end(publish: PublishRef, request: EndRequest): Promise<void> {
    await this.#send('POST', `${this.#publishPath(publish)}/end`, {
      body: JSON.stringify(EndRequest.parse(request)),
      contentType: 'application/json',
      traceId: publish.traceId,
    });
  }

  #publishPath(publish: PublishRef): string {
    return `/internal/ingest/${encodeURIComponent(publish.channelId)}/${encodeURIComponent(publish.publishId)}`;
  }

  async #putMedia(publish: PublishRef, suffix: string, meta: IngestMeta, bytes: Uint8Array): Promise<void> {
    // Validate here so a bad meta fails in the transcoder with a clear message, not as a 400 later.
    const header = JSON.stringify(IngestMeta.parse(meta));
    const contentType = meta.kind === 'init' ? 'video/mp4' : 'video/iso.segment';
    await this.#send('PUT', `${this.#publishPath(publish)}/${suffix}`, {
      body: bytes,
      contentType,
      meta: header,
      traceId: publish.traceId,
    });
  }

  async #send(
    method: 'POST' | 'PUT',
    path: string,
    options: {
      body?: string | Uint8Array;
      contentType?: string;
      meta?: string;
      traceId?: string | undefined;
      /** Default the client's retry policy. */
      attempts?: number;
    },
  ): Promise<string> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.#secret}` };
    if (options.contentType !== undefined) headers['content-type'] = options.contentType;
    if (options.meta !== undefined) headers[INGEST_META_HEADER] = options.meta;
    // One span per request (its retries included): the origin's lines for it share the parent id.
    if (options.traceId !== undefined) headers[TRACEPARENT_HEADER] = formatTraceparent(options.traceId);
    let lastFailure = 'no attempt made';
    let lastStatus: number | null = null;
    const attempts = options.attempts ?? this.#retry.attempts;
    for (let attempt = 1; attempt <= attempts; attempt += 1) {
      if (attempt > 1) await sleep(this.#pickDelay(attempt - 1));
      let response: Response;
      try {
        response = await this.#fetch(`${this.#baseUrl}${path}`, {
          method,
          headers,
          body: options.body,
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
      } catch (error) {
        lastFailure = error instanceof Error ? error.message : String(error);
        lastStatus = null;
        continue;
      }
      // Always read the body: an unread body keeps the pooled connection busy.
      const detail = await response.text().catch(() => '');
      if (response.ok) return detail;
      if (response.status === 409) throw new CutOffError(`${method} ${path} answered 409: ${detail}`);
      const refusal = readFleetRefusal(response.status, detail);
      if (refusal !== null) throw refusal;
      lastStatus = response.status;
      lastFailure = `${method} ${path} answered ${response.status}: ${detail.slice(0, 200)}`;
      if (!isRetryableStatus(response.status))
        throw new IngestRequestError(lastFailure, response.status, attempt);
    }
    throw new IngestRequestError(`gave up after ${attempts} attempts: ${lastFailure}`, lastStatus, attempts);
  }

  /** Exponential backoff with full jitter: many transcoders retrying at once do not stampede the origin. */
  #pickDelay(retry: number): number {
    const ceiling = Math.min(this.#retry.maxDelayMs, this.#retry.baseDelayMs * 2 ** (retry - 1));
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }
}
