// Reading Helix query parameters as Twitch does: repeated keys for lists (`?id=1&id=2`, at most
// 100), `first` (1-100, default 20) and the `after` cursor, `{data, pagination: {cursor?}}` pages.
import type { Context } from 'hono';
import { z } from 'zod';
import { decodeCursor, encodeCursor } from '../api/lib/cursor.ts';
import { HelixError } from './auth.ts';

export const MAX_HELIX_IDS = 100;
export const MAX_HELIX_PAGE = 100;

/** Every value of a repeated parameter; more than 100 is Twitch's 400. */
export function readList(c: Context, name: string): string[] {
  const values = c.req.queries(name) ?? [];
  if (values.length > MAX_HELIX_IDS) throw new HelixError(400, `The maximum number of ${name} values is 100`);
  return values.filter((value) => value.length > 0 && value.length <= 100);
}

/** A required single parameter: `Missing required parameter "broadcaster_id"` as Twitch words it. */
export function readRequired(c: Context, name: string): string {
  const value = c.req.query(name);
  if (value === undefined || value === '' || value.length > 100)
    throw new HelixError(400, `Missing required parameter "${name}"`);
  return value;
}

/** `first`: 1 to `max` (100 on most routes; GET /chat/chatters allows 1,000). */
export function readFirst(c: Context, fallback = 20, max = MAX_HELIX_PAGE): number {
  const raw = c.req.query('first');
  if (raw === undefined) return fallback;
  const first = Number(raw);
  if (!Number.isInteger(first) || first < 1 || first > max)
    throw new HelixError(400, `The parameter "first" was malformed: the value must be between 1 and ${max}`);
  return first;
}

/** The position an `after` cursor names; a cursor that is not ours is 400. */
export function readAfter<T extends z.ZodType>(c: Context, schema: T): z.infer<T> | null {
  const after = c.req.query('after');
  if (after === undefined || after === '') return null;
  const position = after.length > 500 ? null : decodeCursor(schema, after);
  if (position === null) throw new HelixError(400, 'Invalid cursor');
  return position;
}

/** Splits `first + 1` rows into the page and Twitch's pagination object. */
export function paginate<R>(rows: R[], first: number, positionOf: (last: R) => unknown) {
  const page = rows.slice(0, first);
  const last = page.at(-1);
  const pagination =
    rows.length > first && last !== undefined ? { cursor: encodeCursor(positionOf(last)) } : {};
  return { page, pagination };
}

export const KeyIdPosition = z.object({ key: z.number(), id: z.string() });

/** Twitch's timestamps: RFC 3339 in UTC. */
export function toRfc3339(ms: number | null): string {
  return ms === null ? '' : new Date(ms).toISOString();
}

export const TagsColumn = z.string().transform((text) => {
  try {
    return z.array(z.string()).catch([]).parse(JSON.parse(text));
  } catch {
    return [];
  }
});
