// workerd tests: the Worker, its Durable Objects, D1, R2 and Queues as miniflare runs them.
import { generateKeyPairSync } from 'node:crypto';
import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';
import { buildWeb } from './scripts/lib/platform.ts';

const migrations = await readD1Migrations('./migrations');
// The Worker serves the web app as static assets (web/dist), and some routes answer with its
// index.html (/oauth2/authorize, the consent page): build it when it is missing or stale, so a
// fresh clone's workerd run does not depend on the end-to-end suite having built it first.
await buildWeb();

export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: './wrangler.toml' },
      // The Worker with test subclasses of its objects (a scenario's shorter timings, a fake queue).
      main: './test/worker/test-entry.ts',
      miniflare: {
        bindings: {
          INGEST_SECRET: 'test-ingest-secret',
          STREAM_KEY_SECRET: 'test-stream-key-secret',
          // GET /metrics needs it; every metric batch is sent at once instead of every 10 s.
          METRICS_TOKEN: 'test-metrics-token',
          ADMIN_TOKEN: 'test-admin-token',
          // Web Push (a test-only key pair, made by scripts/vapid-keys.ts).
          VAPID_PUBLIC_KEY:
            'BN6qaV-j_fqnoptEh0McHniDL3eeej9tBrNBgEX-LSvP-3_7NoPv14gzBcdpAkyEOeS6-zoK8RRsXx50HjQMloY',
          VAPID_PRIVATE_KEY: 'GRx_AiIq2msvupZP1FYcEhwdxSXIZtJqp5R4l_mJFMg',
          VAPID_SUBJECT: 'mailto:operators@edgestream.test',
          METRICS_FLUSH_SECONDS: '0',
          // Chat rooms open a new shard every 2 sockets, so multi-shard fan-out runs in every chat test.
          CHAT_SOCKETS_PER_SHARD: '2',
          // Past 3 shards a room reaches them through relays (chat/shard-fanout.ts): every chat test
          // with 7 sockets or more delivers through a relay.
          CHAT_RELAY_GROUP_SIZE: '3',
          TEST_MIGRATIONS: migrations,
          // The OpenID Connect signing key (workers/oauth/id-token.ts): a fresh one per run.
          OIDC_SIGNING_JWK: JSON.stringify(
            generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
          ),
        },
      },
    }),
  ],
  test: {
    include: ['test/worker/**/*.test.ts'],
    setupFiles: ['./test/worker/setup.ts'],
    testTimeout: 30_000,
  },
});
