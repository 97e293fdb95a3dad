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
