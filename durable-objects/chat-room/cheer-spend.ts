// The debit of a cheer, in one D1 transaction with its alert: the sender's bits go to the channel
// (double-entry, workers/payments/ledger.ts) keyed by the message id, and the overlay's cheer alert
// is written only if the debit applied. Over the balance, the batch fails and nothing changes;
// the room then refuses the message (docs/payments.md). EventSub's channel.cheer is written to the
// outbox in the same batch (workers/eventsub/outbox.ts) and sent after the commit.
import { flushOutboxAfterCommit, prepareOutboxEvent } from '../../workers/eventsub/outbox.ts';
import { channelBitsAccount, prepareTransfer, userBitsAccount } from '../../workers/payments/ledger.ts';

export type CheerOutcome = 'applied' | 'insufficient';

export async function spendCheer(
  env: Pick<Env, 'DB' | 'STREAM_EVENTS'>,
  cheer: {
    userId: string;
    login: string;
    channelId: string;
    messageId: string;
    bits: number;
    content: string;
  },
  now: number,
): Promise<CheerOutcome> {
  const db = env.DB;
  const id = `cheer:${cheer.messageId}`;
  const prepared = prepareTransfer(db, {
    id,
    kind: 'cheer',
    reference: cheer.messageId,
    from: userBitsAccount(cheer.userId),
    to: channelBitsAccount(cheer.channelId),
    amount: cheer.bits,
    now,
  });
  const alert = db
    .prepare(
      `INSERT INTO channel_alerts (id, channel_id, kind, user_login, amount, message, created_at)
       SELECT ?, ?, 'cheer', ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM ledger_transactions WHERE id = ? AND nonce = ?)`,
    )
    .bind(cheer.messageId, cheer.channelId, cheer.login, cheer.bits, cheer.content, now, id, prepared.nonce);
  const debited = {
    sql: 'EXISTS (SELECT 1 FROM ledger_transactions WHERE id = ? AND nonce = ?)',
    bindings: [id, prepared.nonce],
  };
  const event = await prepareOutboxEvent(
    db,
    'bits.cheered',
    {
      channel_id: cheer.channelId,
      user_id: cheer.userId,
      message_id: cheer.messageId,
      bits: cheer.bits,
      message: cheer.content,
    },
    id,
    now,
    debited,
  );
  try {
    await db.batch([...prepared.statements, alert, event.statement]);
  } catch (error) {
    if (error instanceof Error && /CHECK constraint failed/i.test(error.message)) return 'insufficient';
    throw error;
  }
  await flushOutboxAfterCommit(env, [event.id]);
  return 'applied';
}
