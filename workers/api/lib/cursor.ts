// Opaque pagination cursors: base64url JSON, validated against a schema when read back.
import type { z } from '@hono/zod-openapi';
import { encodeBase64Url } from '../../shared/crypto.ts';

export function encodeCursor(value: unknown): string {
  return encodeBase64Url(new TextEncoder().encode(JSON.stringify(value)));
}

/** The cursor's value, or null when it is not one of ours. */
export function decodeCursor<T extends z.ZodType>(schema: T, cursor: string): z.infer<T> | null {
  try {
    const base64 = cursor.replaceAll('-', '+').replaceAll('_', '/');
    const parsed = schema.safeParse(JSON.parse(atob(base64)));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/**
 * Keyset pagination over rows ordered by (key DESC, id DESC): the condition that resumes after the
 * last row of the previous page. Stable under inserts, unlike OFFSET.
 */
export function continueAfter(
  keyColumn: string,
  idColumn: string,
  position: { key: number; id: string },
): { sql: string; params: (string | number)[] } {
  return {
    sql: `(${keyColumn} < ? OR (${keyColumn} = ? AND ${idColumn} < ?))`,
    params: [position.key, position.key, position.id],
  };
}

/** Splits the `limit + 1` rows a keyset query fetched into the page and the next page's cursor. */
export function takePage<R>(
  rows: R[],
  limit: number,
  positionOf: (last: R) => unknown,
): { page: R[]; cursor: string | null } {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return { page, cursor: rows.length > limit && last !== undefined ? encodeCursor(positionOf(last)) : null };
}

export interface KeysetQuery<R> {
  /** `SELECT ... FROM ...` without WHERE. */
  select: string;
  where: string[];
  params: (string | number)[];
  keyColumn: string;
  idColumn: string;
  /** Where the previous page ended, decoded from its cursor; null for the first page. */
  after: { key: number; id: string } | null;
  limit: number;
  parse: (row: unknown) => R;
  positionOf: (last: R) => unknown;
}

/** Runs one keyset-paginated list query: the rows of the page and the next page's cursor. */
export async function queryKeysetPage<R>(
  db: D1Database,
  query: KeysetQuery<R>,
): Promise<{ page: R[]; cursor: string | null }> {
  const where = [...query.where];
  const params = [...query.params];
  if (query.after !== null) {
    const resume = continueAfter(query.keyColumn, query.idColumn, query.after);
    where.push(resume.sql);
    params.push(...resume.params);
  }
  const { results } = await db
    .prepare(
      `${query.select} WHERE ${where.join(' AND ')} ORDER BY ${query.keyColumn} DESC, ${query.idColumn} DESC LIMIT ?`,
    )
    .bind(...params, query.limit + 1)
    .all();
  return takePage(results.map(query.parse), query.limit, query.positionOf);
}
