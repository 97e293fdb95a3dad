// Opaque pagination cursors: base64url JSON, validated against a schema when read back.
import type { z } from '@hono/zod-openapi';
import { encodeBase64Url } from '../shared/crypto.ts';

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
