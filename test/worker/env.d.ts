import type { D1Migration } from 'cloudflare:test';

declare global {
  namespace Cloudflare {
    interface Env {
      TEST_MIGRATIONS: D1Migration[];
      /** Read by ChatRoom at construction (default 500); the tests use 2. */
      CHAT_SOCKETS_PER_SHARD: string;
    }
  }
}
