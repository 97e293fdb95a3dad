// The bits ledger (docs/payments.md): double entry, so every transaction is two entries that sum to
// zero and every balance is the sum of its account's entries. Balances cannot go below zero: the
// table's CHECK fails the whole D1 batch (a transaction), so a debit larger than the balance
// changes nothing. A transaction's id is its idempotency key: the INSERT OR IGNORE writes a nonce,
// and the entries and balance updates apply only when this batch's nonce is the one stored.

export const ISSUANCE_ACCOUNT = 'issuance:bits';
export type LedgerTransactionKind = 'purchase' | 'cheer' | 'refund';
export type LedgerAccountKind = 'user_bits' | 'channel_bits' | 'issuance';

export function userBitsAccount(userId: string): string {
  return `user_bits:${userId}`;
}

export function channelBitsAccount(channelId: string): string {
  return `channel_bits:${channelId}`;
}

function readAccountKind(account: string): LedgerAccountKind {
  if (account === ISSUANCE_ACCOUNT) return 'issuance';
  if (account.startsWith('user_bits:')) return 'user_bits';
  if (account.startsWith('channel_bits:')) return 'channel_bits';
  throw new Error(`Unknown ledger account ${account}`);
}

export interface Transfer {
  /** The idempotency key: `purchase:<payment>`, `cheer:<message id>`, `refund:<payment>`. */
  id: string;
  kind: LedgerTransactionKind;
  /** What the movement is about (payment intent, chat message id), for tracing. */
  reference: string;
  from: string;
  to: string;
  amount: number;
  now: number;
  /** An extra SQL condition (with its bindings) the transaction needs, e.g. "not refunded". */
  guard?: { sql: string; bindings: unknown[] };
}

export interface PreparedTransfer {
  statements: D1PreparedStatement[];
  nonce: string;
}

export function prepareTransfer(db: D1Database, transfer: Transfer): PreparedTransfer {
  if (!Number.isSafeInteger(transfer.amount) || transfer.amount <= 0) {
    throw new RangeError('A transfer moves a positive whole number of bits');
  }
  const nonce = crypto.randomUUID();
  const mine = 'EXISTS (SELECT 1 FROM ledger_transactions WHERE id = ? AND nonce = ?)';
  const guard = transfer.guard ? ` AND ${transfer.guard.sql}` : '';
  const statements = [
    db
      .prepare('INSERT INTO ledger_accounts (id, kind) VALUES (?, ?), (?, ?) ON CONFLICT DO NOTHING')
      .bind(transfer.from, readAccountKind(transfer.from), transfer.to, readAccountKind(transfer.to)),
    db
      .prepare(
        `INSERT OR IGNORE INTO ledger_transactions (id, kind, reference, nonce, created_at)
         SELECT ?, ?, ?, ?, ? WHERE 1 = 1${guard}`,
      )
      .bind(
        transfer.id,
        transfer.kind,
        transfer.reference,
        nonce,
        transfer.now,
        ...(transfer.guard?.bindings ?? []),
      ),
    db
      .prepare(`INSERT INTO ledger_entries (transaction_id, account_id, amount) SELECT ?, ?, ? WHERE ${mine}`)
      .bind(transfer.id, transfer.from, -transfer.amount, transfer.id, nonce),
    db
      .prepare(`INSERT INTO ledger_entries (transaction_id, account_id, amount) SELECT ?, ?, ? WHERE ${mine}`)
      .bind(transfer.id, transfer.to, transfer.amount, transfer.id, nonce),
    // The debit first: over the balance, its CHECK fails the batch before anything is credited.
    db
      .prepare(`UPDATE ledger_accounts SET balance = balance - ? WHERE id = ? AND ${mine}`)
      .bind(transfer.amount, transfer.from, transfer.id, nonce),
    db
      .prepare(`UPDATE ledger_accounts SET balance = balance + ? WHERE id = ? AND ${mine}`)
      .bind(transfer.amount, transfer.to, transfer.id, nonce),
  ];
  return { statements, nonce };
}

export type TransferOutcome = 'applied' | 'duplicate' | 'insufficient';

function isBalanceCheckFailure(error: unknown): boolean {
  return error instanceof Error && /CHECK constraint failed/i.test(error.message);
}

/** Runs one transfer on its own (cheers): applied, already applied, or refused for the balance. */
export async function runTransfer(db: D1Database, transfer: Transfer): Promise<TransferOutcome> {
  const prepared = prepareTransfer(db, transfer);
  try {
    await db.batch(prepared.statements);
  } catch (error) {
    if (isBalanceCheckFailure(error)) return 'insufficient';
    throw error;
  }
  const row = await db
    .prepare('SELECT nonce FROM ledger_transactions WHERE id = ?')
    .bind(transfer.id)
    .first<{ nonce: string }>();
  return row?.nonce === prepared.nonce ? 'applied' : 'duplicate';
}

export async function readBalance(db: D1Database, account: string): Promise<number> {
  const row = await db
    .prepare('SELECT balance FROM ledger_accounts WHERE id = ?')
    .bind(account)
    .first<{ balance: number }>();
  return row?.balance ?? 0;
}
