// The bits ledger under a randomized run (fast-check): purchases, cheers (some over the balance)
// and refunds, repeated with the same idempotency keys, against real D1. Afterwards every
// transaction's entries sum to zero, so all entries do; every balance is the sum of its entries;
// no user or channel balance is below zero; and each refused or repeated transfer changed nothing.
import { env } from 'cloudflare:test';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  channelBitsAccount,
  ISSUANCE_ACCOUNT,
  runTransfer,
  type Transfer,
  userBitsAccount,
} from '../../workers/payments/ledger.ts';

const USERS = ['a', 'b', 'c'];
const CHANNELS = ['x', 'y'];

const Operation = fc.oneof(
  fc.record({
    kind: fc.constant('purchase' as const),
    user: fc.constantFrom(...USERS),
    amount: fc.integer({ min: 1, max: 500 }),
  }),
  fc.record({
    kind: fc.constant('cheer' as const),
    user: fc.constantFrom(...USERS),
    channel: fc.constantFrom(...CHANNELS),
    amount: fc.integer({ min: 1, max: 400 }),
  }),
  fc.record({
    kind: fc.constant('refund' as const),
    user: fc.constantFrom(...USERS),
    amount: fc.integer({ min: 1, max: 300 }),
  }),
);

async function readInvariants(prefix: string) {
  const totals = await env.DB.prepare(
    `SELECT COALESCE(SUM(amount), 0) AS total,
       (SELECT count(*) FROM (SELECT transaction_id FROM ledger_entries GROUP BY transaction_id HAVING SUM(amount) != 0 OR count(*) != 2)) AS unbalanced,
       (SELECT count(*) FROM ledger_accounts a WHERE a.balance != (SELECT COALESCE(SUM(e.amount), 0) FROM ledger_entries e WHERE e.account_id = a.id)) AS drifted,
       (SELECT count(*) FROM ledger_accounts WHERE kind != 'issuance' AND balance < 0) AS negative
     FROM ledger_entries`,
  ).first<{ total: number; unbalanced: number; drifted: number; negative: number }>();
  const { results } = await env.DB.prepare('SELECT id, balance FROM ledger_accounts WHERE id LIKE ?')
    .bind(`%:${prefix}-%`)
    .all<{ id: string; balance: number }>();
  return { totals, balances: new Map(results.map((row) => [row.id, row.balance])) };
}

describe('bits ledger', () => {
  it('balances after a randomized run: entries sum to zero, no balance below zero, refusals and repeats change nothing', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(Operation, { minLength: 1, maxLength: 25 }), async (operations) => {
        run += 1;
        const prefix = `run${run}${crypto.randomUUID().slice(0, 8)}`;
        const user = (name: string) => userBitsAccount(`${prefix}-${name}`);
        const channel = (name: string) => channelBitsAccount(`${prefix}-${name}`);
        const model = new Map<string, number>();
        const balanceOf = (account: string) => model.get(account) ?? 0;
        for (const [index, op] of operations.entries()) {
          const transfer: Transfer =
            op.kind === 'purchase'
              ? {
                  id: `purchase:${prefix}:${index}`,
                  kind: 'purchase',
                  reference: 'pi',
                  from: ISSUANCE_ACCOUNT,
                  to: user(op.user),
                  amount: op.amount,
                  now: index,
                }
              : op.kind === 'cheer'
                ? {
                    id: `cheer:${prefix}:${index}`,
                    kind: 'cheer',
                    reference: 'msg',
                    from: user(op.user),
                    to: channel(op.channel),
                    amount: op.amount,
                    now: index,
                  }
                : {
                    id: `refund:${prefix}:${index}`,
                    kind: 'refund',
                    reference: 'pi',
                    from: user(op.user),
                    to: ISSUANCE_ACCOUNT,
                    amount: op.amount,
                    now: index,
                  };
          const expected =
            transfer.from !== ISSUANCE_ACCOUNT && balanceOf(transfer.from) < transfer.amount
              ? 'insufficient'
              : 'applied';
          expect(await runTransfer(env.DB, transfer)).toBe(expected);
          if (expected === 'applied') {
            model.set(transfer.from, balanceOf(transfer.from) - transfer.amount);
            model.set(transfer.to, balanceOf(transfer.to) + transfer.amount);
            // The same key again (a retried cheer or webhook) is a duplicate and moves nothing.
            expect(await runTransfer(env.DB, transfer)).toBe('duplicate');
          }
        }
        const { totals, balances } = await readInvariants(prefix);
        expect(totals).toEqual({ total: 0, unbalanced: 0, drifted: 0, negative: 0 });
        for (const [account, balance] of model) {
          if (account !== ISSUANCE_ACCOUNT) expect(balances.get(account) ?? 0).toBe(balance);
        }
      }),
      { numRuns: 25 },
    );
  });
});
