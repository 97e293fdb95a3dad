// A seeded fuzz suite over every operation of the API's own OpenAPI document (GET
// /api/v1/openapi.json): malformed path parameters, query strings, bodies, content types and
// credentials, generated with fast-check and sent through the real Worker in workerd. Whatever
// comes in, the API never answers 500 and every error is the JSON error body
// `{"error": {"code", "message", "details?"}}` (docs/api.md, "Errors"). The seed is fixed so a
// failure reproduces (fast-check prints the counterexample); change SEED to explore further.
import { env, SELF } from 'cloudflare:test';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createSession } from '../../workers/shared/auth.ts';
import { createTestIp, ErrorResponse, signUp, type TestSession } from './api-helpers.ts';

const SEED = 20_261_202;
/** Runs per operation: 47 operations x 15 (about 700 requests) take 10-25 s on a shared 2-core machine. */
const RUNS_PER_OPERATION = 15;
const BASE = 'http://localhost/api/v1';

const Parameter = z.looseObject({ name: z.string(), in: z.string() });
const Operation = z.looseObject({
  parameters: z.array(Parameter).optional(),
  requestBody: z
    .looseObject({ content: z.record(z.string(), z.looseObject({ schema: z.unknown() })) })
    .optional(),
});
const OpenApiDocument = z.looseObject({
  paths: z.record(z.string(), z.record(z.string(), z.unknown())),
  components: z
    .looseObject({ schemas: z.record(z.string(), z.looseObject({ properties: z.unknown().optional() })) })
    .optional(),
});
type OpenApiDocument = z.infer<typeof OpenApiDocument>;

interface FuzzOperation {
  method: string;
  path: string;
  queryNames: string[];
  bodyFields: string[];
}

const METHODS = new Set(['get', 'post', 'put', 'patch', 'delete']);

/** The property names of an operation's JSON body schema (following one $ref). */
function readBodyFields(doc: OpenApiDocument, operation: z.infer<typeof Operation>): string[] {
  const schema = operation.requestBody?.content['application/json']?.schema;
  const ref = z.object({ $ref: z.string() }).safeParse(schema);
  const resolved = ref.success
    ? doc.components?.schemas[ref.data.$ref.split('/').at(-1) ?? '']?.properties
    : undefined;
  const inline = z.object({ properties: z.record(z.string(), z.unknown()) }).safeParse(schema);
  const properties = resolved ?? (inline.success ? inline.data.properties : undefined);
  const parsed = z.record(z.string(), z.unknown()).safeParse(properties);
  return parsed.success ? Object.keys(parsed.data) : [];
}

function listOperations(doc: OpenApiDocument): FuzzOperation[] {
  const operations: FuzzOperation[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, raw] of Object.entries(methods)) {
      if (!METHODS.has(method)) continue;
      const operation = Operation.parse(raw);
      operations.push({
        method: method.toUpperCase(),
        path,
        queryNames: (operation.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name),
        bodyFields: readBodyFields(doc, operation),
      });
    }
  }
  return operations;
}

/** Path segments a client could send: ids real and bogus, traversal, encodings, huge, unicode. */
function arbitrarySegment(known: string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { arbitrary: fc.constantFrom(...known), weight: 6 },
    fc.uuid().map(String),
    fc.string({ maxLength: 40 }).map(encodeURIComponent),
    fc.string({ unit: 'grapheme', maxLength: 20 }).map(encodeURIComponent),
    fc.constantFrom(
      '..',
      '%2e%2e',
      '%00',
      '%2F',
      '%',
      '%zz',
      'a%2Fb',
      ' ',
      '%20',
      "'",
      '"',
      '<script>',
      '-1',
      '0',
    ),
    fc.integer({ min: 101, max: 5000 }).map((n) => 'x'.repeat(n)),
  );
}

/** Values for query parameters and body fields: every JSON type, strings that break parsers. */
const arbitraryValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.string({ maxLength: 30 }),
  fc.constantFrom('', 'null', 'NaN', '-1', '1e309', '9'.repeat(40), '\u0000', '\r\n', '../..', 'true'),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
);

const arbitraryContentType = fc.oneof(
  { arbitrary: fc.constant('application/json'), weight: 8 },
  fc.constantFrom(
    'application/json; charset=utf-8',
    'text/plain',
    'multipart/form-data; boundary=xyz',
    'application/x-www-form-urlencoded',
    'application/octet-stream',
    null,
  ),
);

function arbitraryBody(fields: string[]): fc.Arbitrary<string | null> {
  const known = fields.length > 0 ? fields : ['id'];
  return fc.oneof(
    fc.constant(null),
    {
      arbitrary: fc
        .dictionary(fc.constantFrom(...known), arbitraryValue, { maxKeys: known.length })
        .map((o) => JSON.stringify(o)),
      weight: 6,
    },
    fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
    fc.string({ maxLength: 200 }),
    fc.constantFrom('{', '{"a":', '[', '{"title": "\u0000"}', 'null', '""', '{}'.repeat(50)),
    fc.integer({ min: 1, max: 200 }).map((depth) => '['.repeat(depth) + ']'.repeat(depth)),
  );
}

interface FuzzRequest {
  path: string;
  query: [string, unknown][];
  body: string | null;
  contentType: string | null;
  auth: 'none' | 'valid' | 'garbage';
}

function arbitraryRequest(operation: FuzzOperation, known: string[]): fc.Arbitrary<FuzzRequest> {
  const names = operation.path.match(/\{[^}]+\}/g) ?? [];
  return fc.record({
    path: fc
      .tuple(
        fc.array(arbitrarySegment(known), { minLength: names.length, maxLength: names.length }),
        fc.oneof(
          { arbitrary: fc.constant(''), weight: 12 },
          fc.constantFrom('/', '//', '/extra', '/%2e%2e/users/me', '?'),
        ),
      )
      .map(([segments, suffix]) => {
        let i = 0;
        return operation.path.replace(/\{[^}]+\}/g, () => segments[i++] ?? '') + suffix;
      }),
    query: fc.array(
      fc.tuple(
        fc.oneof(fc.constantFrom(...operation.queryNames, 'token', 'x'), fc.string({ maxLength: 10 })),
        arbitraryValue,
      ),
      { maxLength: 4 },
    ),
    body: arbitraryBody(operation.bodyFields),
    contentType: arbitraryContentType,
    auth: fc.oneof(
      { arbitrary: fc.constant('valid' as const), weight: 4 },
      fc.constantFrom('none', 'garbage'),
    ),
  });
}

async function send(
  operation: FuzzOperation,
  request: FuzzRequest,
  userId: string,
): Promise<Response | null> {
  let url: URL;
  try {
    url = new URL(`${BASE}${request.path}`);
  } catch {
    return null;
  }
  for (const [name, value] of request.query) {
    url.searchParams.append(name, typeof value === 'string' ? value : (JSON.stringify(value) ?? ''));
  }
  const headers = new Headers({ 'CF-Connecting-IP': createTestIp() });
  if (request.contentType !== null) headers.set('Content-Type', request.contentType);
  if (request.auth === 'valid') headers.set('Authorization', `Bearer ${await createSession(env.DB, userId)}`);
  if (request.auth === 'garbage') headers.set('Authorization', 'Bearer not-a-real-token');
  const hasBody = request.body !== null && operation.method !== 'GET';
  return SELF.fetch(url, { method: operation.method, headers, body: hasBody ? request.body : null });
}

/** The property every response must have: no 5xx but 503, and errors as the JSON error body. */
async function expectWellFormed(res: Response, label: string): Promise<void> {
  const text = await res.text();
  expect(res.status, `${label} answered ${res.status}: ${text.slice(0, 300)}`).not.toBe(500);
  expect(res.status === 503 || res.status < 500, `${label} answered ${res.status}`).toBe(true);
  if (res.status >= 400) {
    expect(res.headers.get('Content-Type') ?? '', `${label} error content type`).toContain(
      'application/json',
    );
    const parsed = ErrorResponse.safeParse(JSON.parse(text));
    expect(parsed.success, `${label} error body: ${text.slice(0, 300)}`).toBe(true);
    if (res.status === 429)
      expect(Number(res.headers.get('Retry-After')), `${label} Retry-After`).toBeGreaterThan(0);
  }
}

describe('API fuzz (every OpenAPI operation)', () => {
  let operations: FuzzOperation[] = [];
  let user: TestSession;
  let known: string[] = [];

  beforeAll(async () => {
    const res = await SELF.fetch(`${BASE}/openapi.json`);
    operations = listOperations(OpenApiDocument.parse(await res.json()));
    user = await signUp('fuzz');
    known = [user.channel.id, user.channel.name, user.user.id, user.user.username];
  });

  it('reads every operation from the OpenAPI document', () => {
    expect(operations.length).toBeGreaterThanOrEqual(40);
    expect(operations.some((o) => o.method === 'POST' && o.path === '/clips')).toBe(true);
    expect(operations.find((o) => o.path === '/clips')?.bodyFields).toContain('stream_id');
  });

  it('never answers 500 and always answers errors with the JSON error body', async () => {
    let sent = 0;
    for (const [index, operation] of operations.entries()) {
      await fc.assert(
        fc.asyncProperty(arbitraryRequest(operation, known), async (request) => {
          const res = await send(operation, request, user.user.id);
          if (!res) return;
          sent += 1;
          await expectWellFormed(res, `${operation.method} ${request.path}`);
        }),
        { seed: SEED + index, numRuns: RUNS_PER_OPERATION, endOnFailure: true },
      );
    }
    expect(sent).toBeGreaterThan(operations.length * RUNS_PER_OPERATION * 0.9);
  }, 120_000);
});
