// The cron trigger: a list of independent sweeps. One failing sweep is logged and does not stop
// the others; each is safe to run again (the trigger fires every 10 minutes).
import { log } from '../common/log.ts';
import { KNOWN_NETWORK_TTL_MS, prepareExpireLoginFailures } from './api/lib/login-guard.ts';
import { evaluateTiers } from './api/lib/tier-program.ts';
import { IDEMPOTENCY_TTL_MS } from './api/middleware/idempotency.ts';
import { flushOutbox, OUTBOX_CRON_AGE_MS } from './eventsub/outbox.ts';
import { reconcileStreams } from './origin/reconcile-streams.ts';
import { recountExpiredSubscribers } from './payments/subscription-rows.ts';
import { sweepExpiredVods, sweepLiveParts } from './vod/retention.ts';

export interface Sweep {
  name: string;
  run(env: Env, now: number): Promise<void>;
}

/** Dedupe records outlive any redelivery: Queues give up after 3 retries, well within a week. */
const PROCESSED_EVENT_TTL_MS = 7 * 24 * 60 * 60 * 1000;
/**
 * R2 deletes per sweep per run. A cron invocation has a subrequest budget (1000 on the paid plan);
 * each list or delete call covers up to 1000 keys, so this is a handful of calls per sweep.
 */
export const RETENTION_DELETES_PER_RUN = 5000;
/** A clip job still processing after this long exhausted its retries (dead-lettered). */
const CLIP_JOB_TIMEOUT_MS = 15 * 60 * 1000;

export const SWEEPS: Sweep[] = [
  {
    name: 'expire-sessions',
    run: async (env, now) => {
      await env.DB.prepare('DELETE FROM sessions WHERE expires_at <= ?').bind(now).run();
    },
  },
  {
    name: 'expire-idempotency-keys',
    run: async (env, now) => {
      await env.DB.prepare('DELETE FROM idempotency_keys WHERE created_at < ?')
        .bind(now - IDEMPOTENCY_TTL_MS)
        .run();
    },
  },
  {
    // Login records that no longer change an answer: failure counts past their window and lock,
    // networks not logged in from for KNOWN_NETWORK_TTL_MS, finished notification fan-outs.
    name: 'expire-login-records',
    run: async (env, now) => {
      await env.DB.batch([
        prepareExpireLoginFailures(env, env.DB, now),
        env.DB.prepare('DELETE FROM known_networks WHERE last_login_at < ?').bind(now - KNOWN_NETWORK_TTL_MS),
        env.DB.prepare('DELETE FROM notification_fanouts WHERE updated_at < ?').bind(
          now - PROCESSED_EVENT_TTL_MS,
        ),
      ]);
    },
  },
  {
    name: 'trim-processed-events',
    run: async (env, now) => {
      await env.DB.prepare('DELETE FROM processed_events WHERE processed_at < ?')
        .bind(now - PROCESSED_EVENT_TTL_MS)
        .run();
    },
  },
  {
    name: 'expire-vods',
    run: async (env, now) => {
      await sweepExpiredVods(env, now, RETENTION_DELETES_PER_RUN);
    },
  },
  {
    name: 'expire-live-parts',
    run: async (env, now) => {
      await sweepLiveParts(env, now, Number(env.LIVE_PART_RETENTION_HOURS), RETENTION_DELETES_PER_RUN);
    },
  },
  {
    name: 'reconcile-streams',
    run: async (env, now) => {
      const outcomes = await reconcileStreams(env, now);
      const settled = [...outcomes].filter(([, outcome]) => outcome === 'settled').map(([id]) => id);
      if (settled.length > 0) log.warn('stale_streams_settled', { stream_ids: settled });
    },
  },
  {
    name: 'fail-stuck-clips',
    run: async (env, now) => {
      await env.DB.prepare(
        "UPDATE clips SET status = 'failed', failure_reason = 'The clip job did not finish' WHERE status = 'processing' AND created_at < ?",
      )
        .bind(now - CLIP_JOB_TIMEOUT_MS)
        .run();
    },
  },
  {
    // Subscriptions that simply ran out change no row, so no event recounts them (docs/payments.md).
    name: 'recount-subscribers',
    run: async (env, now) => {
      await recountExpiredSubscribers(env.DB, now);
    },
  },
  {
    // EventSub events whose writer could not send them after its commit (workers/eventsub/outbox.ts).
    name: 'flush-eventsub-outbox',
    run: async (env, now) => {
      await flushOutbox(env, { olderThan: now - OUTBOX_CRON_AGE_MS });
    },
  },
  {
    // The affiliate/partner program: channels whose streams ended lately get their tier re-evaluated.
    name: 'evaluate-audience-tiers',
    run: async (env, now) => {
      await evaluateTiers(env.DB, now);
    },
  },
];

export async function runSweeps(sweeps: Sweep[], env: Env, now: number): Promise<void> {
  const results = await Promise.allSettled(sweeps.map((sweep) => sweep.run(env, now)));
  results.forEach((result, i) => {
    const name = sweeps[i]?.name;
    if (result.status === 'rejected') {
      log.error('sweep_failed', { sweep: name, error: result.reason });
    } else {
      log.info('sweep_done', { sweep: name });
    }
  });
}

export async function runScheduled(controller: ScheduledController, env: Env): Promise<void> {
  await runSweeps(SWEEPS, env, controller.scheduledTime);
}
