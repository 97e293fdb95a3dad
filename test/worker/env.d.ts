import type { D1Migration } from 'cloudflare:test';

declare global {
  namespace Cloudflare {
    interface Env {
      TEST_MIGRATIONS: D1Migration[];
      /** Read by ChatRoom at construction (default 500); the tests use 2. */
      CHAT_SOCKETS_PER_SHARD: string;
      /** Read by ChatRoom at construction (default 20, chat/shard-fanout.ts); the tests use 3. */
      CHAT_RELAY_GROUP_SIZE: string;
    }
  }
}
