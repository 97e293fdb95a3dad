// schema.sql is the readable whole; migrations/ evolve it. A fresh SQLite database built from each
// must have the same tables, indexes and columns.
import { env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import schemaSql from '../../schema.sql';

interface SchemaShape {
  objects: string[];
  columns: string[];
}

/** Builds a database in a fresh Durable Object's SQLite and describes it. */
async function describeSchema(statements: string[]): Promise<SchemaShape> {
  const stub = env.RATE_LIMITER.getByName(`schema-${crypto.randomUUID()}`);
  return runInDurableObject(stub, (_instance, state) => {
    const sql = state.storage.sql;
    // The RateLimiter's own table is the same in both databases; drop it so only the schema remains.
    sql.exec('DROP TABLE IF EXISTS hits');
    for (const statement of statements) sql.exec(statement);
    const objects = sql
      .exec<{ type: string; name: string; sql: string | null }>(
        "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' ORDER BY type, name",
      )
      .toArray()
      .map((row) => `${row.type} ${row.name}: ${(row.sql ?? '').replace(/\s+/g, ' ')}`);
    const columns: string[] = [];
    const tables = sql
      .exec<{ name: string }>(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' ORDER BY name",
      )
      .toArray();
    for (const { name } of tables) {
      for (const column of sql.exec(`PRAGMA table_info("${name}")`).toArray()) {
        columns.push(`${name}.${JSON.stringify(column)}`);
      }
    }
    return { objects, columns };
  });
}

function splitStatements(script: string): string[] {
  const withoutComments = script.replace(/--[^\n]*/g, '');
  return withoutComments
    .split(/;\s*(?:\n|$)/)
    .map((statement) => statement.trim())
    .filter((statement) => statement.length > 0);
}

describe('schema', () => {
  it('builds the same tables, indexes and columns from migrations/ as from schema.sql', async () => {
    const fromSchema = await describeSchema(splitStatements(schemaSql));
    const fromMigrations = await describeSchema(
      env.TEST_MIGRATIONS.flatMap((m) => m.queries.flatMap(splitStatements)),
    );
    expect(fromSchema.objects.length).toBeGreaterThan(15);
    expect(fromSchema.objects.some((o) => o.startsWith('table search_index'))).toBe(true);
    expect(fromMigrations.objects).toEqual(fromSchema.objects);
    expect(fromMigrations.columns).toEqual(fromSchema.columns);
  });
});
