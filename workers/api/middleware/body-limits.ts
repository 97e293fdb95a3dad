// Request body limits, checked before anything reads a body (the Idempotency-Key hash included).
// Without them a client could make the Worker buffer, hash and parse bodies of any size.
import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { MAX_BOX_ART_BYTES, MAX_EMOTE_BYTES } from '../../../protocol/limits.ts';
import { errorBody } from '../../shared/errors.ts';

/** JSON bodies: the largest legitimate one (chat settings with 500 banned words) is about 55 KiB. */
export const MAX_JSON_BODY_BYTES = 64 * 1024;
/**
 * Emote uploads: the image (at most MAX_EMOTE_BYTES) as a multipart file or as base64 in JSON,
 * which grows it by 4/3, plus a little room for the other fields and the multipart framing.
 */
export const MAX_UPLOAD_BODY_BYTES = Math.ceil((MAX_EMOTE_BYTES * 4) / 3) + 16 * 1024;
/** POST /channels/{id}/emotes, wherever the API is mounted. */
const UPLOAD_PATH = /\/channels\/[^/]+\/emotes$/;
/** PUT /categories/admin/{id}/box-art: the raw image, nothing else. */
const BOX_ART_PATH = /\/categories\/admin\/[^/]+\/box-art$/;

function createLimit(maxSize: number): MiddlewareHandler {
  return bodyLimit({
    maxSize,
    onError: (c) =>
      c.json(errorBody('payload_too_large', `Request bodies here are at most ${maxSize} bytes`), 413),
  });
}

const limitJsonBody = createLimit(MAX_JSON_BODY_BYTES);
const limitUploadBody = createLimit(MAX_UPLOAD_BODY_BYTES);
const limitBoxArtBody = createLimit(MAX_BOX_ART_BYTES);

/** Answers 413 (the JSON error body) when the body is over the limit of its route. */
export const limitRequestBody: MiddlewareHandler = async (c, next) => {
  if (UPLOAD_PATH.test(c.req.path)) return limitUploadBody(c, next);
  if (BOX_ART_PATH.test(c.req.path)) return limitBoxArtBody(c, next);
  return limitJsonBody(c, next);
};
