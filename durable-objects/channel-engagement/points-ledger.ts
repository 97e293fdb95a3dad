// The channel-points ledger of one channel, in its ChannelEngagement object's SQLite: double
// entry like the bits ledger (workers/payments/ledger.ts, docs/payments.md), so every movement is
// two entries that sum to zero and every balance is the sum of its account's entries. What it
// imitates: a transaction's id is its idempotency key (a second transfer with the same id changes
// nothing and says "duplicate"), and no account but the issuance account goes below zero (checked
// before writing, and the table's CHECK as a second guard). A transfer is synchronous SQL with no
// await inside, so in a Durable Object it runs whole before any other request; callers that move
// points with other writes wrap them in `transactionSync`.
import * as z from 'zod/mini';

/** Where earned points come from: the only account allowed below zero (minus what was ever earned). */
export const ISSUANCE_ACCOUNT = 'issuance';
/** Points spent on rewards; a rejected redemption's refund comes back from here. */
export const REDEMPTIONS_ACCOUNT = 'redemptions';
/** Points spent on extra poll votes. */
export const POLLS_ACCOUNT = 'polls';

export function userAccount(userId: string): string {
  return `user:${userId}`;
}

/** A prediction's pot: stakes go in, payouts or refunds take it back to zero. */
export function potAccount(predictionId: string): string {
  return `prediction:${predictionId}`;
}

export type TransferKind = 'watch' | 'bonus' | 'redeem' | 'refund' | 'vote' | 'stake' | 'payout';

export interface PointsTransfer {
  /** The idempotency key, e.g. `watch:<user>:<n>`, `redeem:<user>:<request id>`. */
  id: string;
  kind: TransferKind;
  from: string;
  to: string;
  amount: number;
  now: number;
}

export type TransferOutcome = 'applied' | 'duplicate' | 'insufficient';

const BalanceRow = z.object({ balance: z.number() });
const AuditRow = z.object({ id: z.string(), balance: z.number(), entries: z.nullable(z.number()) });

export interface LedgerAudit {
  /** The sum of every entry (0 when every transaction balances). */
  entrySum: number;
  /** The sum of every account balance (0 likewise). */
  balanceSum: number;
  /** Accounts other than issuance below zero (none, ever). */
  negativeAccounts: string[];
  /** Accounts whose stored balance differs from the sum of their entries (none, ever). */
  driftedAccounts: string[];
}

export class PointsLedger {
  readonly #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  create(): void {
    this.#sql.exec(`
      CREATE TABLE IF NOT EXISTS points_accounts (
        id TEXT PRIMARY KEY,
        balance INTEGER NOT NULL DEFAULT 0,
        CHECK (balance >= 0 OR id = '${ISSUANCE_ACCOUNT}')
      );
      CREATE TABLE IF NOT EXISTS points_transactions (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS points_entries (
        transaction_id TEXT NOT NULL,
        account_id TEXT NOT NULL,
        amount INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS points_entries_by_tx ON points_entries (transaction_id);
    `);
  }

  readBalance(account: string): number {
    const row = this.#sql.exec('SELECT balance FROM points_accounts WHERE id = ?', account).toArray()[0];
    return row === undefined ? 0 : BalanceRow.parse(row).balance;
  }

  has(transactionId: string): boolean {
    return (
      this.#sql.exec('SELECT 1 FROM points_transactions WHERE id = ?', transactionId).toArray().length > 0
    );
  }

  /** Moves `amount` once per transaction id; refused whole when `from` holds less. */
  transfer(transfer: PointsTransfer): TransferOutcome {
    if (!Number.isSafeInteger(transfer.amount) || transfer.amount <= 0) {
      throw new RangeError('A transfer moves a positive whole number of points');
    }
    if (this.has(transfer.id)) return 'duplicate';
    if (transfer.from !== ISSUANCE_ACCOUNT && this.readBalance(transfer.from) < transfer.amount) {
      return 'insufficient';
    }
    this.#sql.exec(
      'INSERT INTO points_accounts (id) VALUES (?), (?) ON CONFLICT DO NOTHING',
      transfer.from,
      transfer.to,
    );
    this.#sql.exec(
      'INSERT INTO points_transactions (id, kind, created_at) VALUES (?, ?, ?)',
      transfer.id,
      transfer.kind,
      transfer.now,
    );
    this.#sql.exec(
      'INSERT INTO points_entries (transaction_id, account_id, amount) VALUES (?, ?, ?), (?, ?, ?)',
      transfer.id,
      transfer.from,
      -transfer.amount,
      transfer.id,
      transfer.to,
      transfer.amount,
    );
    this.#sql.exec(
      'UPDATE points_accounts SET balance = balance - ? WHERE id = ?',
      transfer.amount,
      transfer.from,
    );
    this.#sql.exec(
      'UPDATE points_accounts SET balance = balance + ? WHERE id = ?',
      transfer.amount,
      transfer.to,
    );
    return 'applied';
  }

  /** Checks the ledger's invariants (tests, and an operator who doubts a balance). */
  audit(): LedgerAudit {
    const rows = this.#sql
      .exec(
        `SELECT a.id, a.balance, (SELECT SUM(e.amount) FROM points_entries e WHERE e.account_id = a.id) AS entries
         FROM points_accounts a`,
      )
      .toArray()
      .map((row) => AuditRow.parse(row));
    const entrySum = z
      .object({ total: z.nullable(z.number()) })
      .parse(this.#sql.exec('SELECT SUM(amount) AS total FROM points_entries').one()).total;
    return {
      entrySum: entrySum ?? 0,
      balanceSum: rows.reduce((sum, row) => sum + row.balance, 0),
      negativeAccounts: rows
        .filter((row) => row.balance < 0 && row.id !== ISSUANCE_ACCOUNT)
        .map((row) => row.id),
      driftedAccounts: rows.filter((row) => row.balance !== (row.entries ?? 0)).map((row) => row.id),
    };
  }
}
