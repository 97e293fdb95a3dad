export async function consumeQueueBatch(batch: MessageBatch, _env: Env): Promise<void> {
  batch.ackAll();
}
