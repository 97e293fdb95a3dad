// What every API sub-app shares: the Hono env, the validation hook that turns zod failures into the
// one error body, and the OpenAPI schemas of that body.
import { OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { toClientNetwork, toClientNetworkBlock } from '../../../common/client-network.ts';
import { errorBody } from '../../shared/errors.ts';
import type { IdempotencyVariables } from '../middleware/idempotency.ts';

export interface ApiEnv {
  Bindings: Env;
  Variables: IdempotencyVariables;
}

/**
 * The slice of a Hono Context that helpers need: bindings and the request URL. Helpers take this
 * rather than `Context` so that handlers with route-specific variables can pass theirs.
 */
export interface RequestScope {
  env: Env;
  req: { url: string };
}

/** A new sub-app for one resource. Each sub-app needs the hook: validators are built per app. */
export function createApiRouter(): OpenAPIHono<ApiEnv> {
  return new OpenAPIHono<ApiEnv>({
    defaultHook: (result, c) => {
      if (!result.success) {
        return c.json(errorBody('validation_failed', 'Request validation failed', result.error.issues), 400);
      }
    },
  });
}

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: 'not_found' }),
      message: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .openapi('Error');

const ERROR_DESCRIPTIONS = {
  400: 'Malformed JSON or a request that fails validation',
  401: 'Missing or invalid bearer token',
  403: 'Authenticated, but not allowed',
  404: 'Not found',
  409: 'Conflict',
  422: 'Valid syntax, but breaks a business rule',
  429: 'Rate limited; honour Retry-After',
  503: 'A dependency is down or the feature is not configured; retry later',
} as const;
type ErrorStatus = keyof typeof ERROR_DESCRIPTIONS;

/** OpenAPI response entries for the error statuses a route can answer. */
export function describeErrors(...statuses: ErrorStatus[]) {
  const responses: Partial<
    Record<
      ErrorStatus,
      { description: string; content: { 'application/json': { schema: typeof ErrorSchema } } }
    >
  > = {};
  for (const status of statuses) {
    responses[status] = {
      description: ERROR_DESCRIPTIONS[status],
      content: { 'application/json': { schema: ErrorSchema } },
    };
  }
  return responses;
}

/** A JSON response entry for createRoute. */
export function jsonContent<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { 'application/json': { schema } } };
}

/** A required JSON request body for createRoute. */
export function jsonBody<T extends z.ZodType>(schema: T) {
  return { required: true, content: { 'application/json': { schema } } };
}

export const BearerSecurity = [{ bearerAuth: [] }];

/** A path segment (an id, a name, a slug), documented as the path parameter `name`. */
export function pathParam(name: string, description?: string) {
  return z
    .string()
    .min(1)
    .max(100)
    .openapi({ param: { name, in: 'path' }, ...(description === undefined ? {} : { description }) });
}

/**
 * The client's network as Cloudflare reports its address (an IPv4 address, or the /64 of an IPv6
 * one): what per-IP limits and anonymous idempotency scopes key on. Local runs have none.
 */
export function readClientNetwork(c: Context): string {
  return toClientNetwork(c.req.header('CF-Connecting-IP') ?? 'local');
}

/** The client's IPv6 /48, counted beside its /64 with a higher limit; null for IPv4. */
export function readClientNetworkBlock(c: Context): string | null {
  return toClientNetworkBlock(c.req.header('CF-Connecting-IP') ?? 'local');
}

/** Origin (scheme + host) of the request, for absolute playback URLs. */
export function readRequestOrigin(c: RequestScope): string {
  return new URL(c.req.url).origin;
}

/** ws(s)://<host>/ws/<channel id>: wss when the page came over https. */
export function buildChatWebSocketUrl(c: RequestScope, channelId: string): string {
  const url = new URL(c.req.url);
  const scheme = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${url.host}/ws/${encodeURIComponent(channelId)}`;
}
