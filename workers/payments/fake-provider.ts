// The built-in fake provider for local runs and tests (docs/payments.md): checkout sessions are
// pages served by this Worker, and paying one sends the events Stripe would send, signed with the
// official package's test-signature helper, through the same webhook verification as Stripe's.

import { newStripeId } from './fake-events.ts';
import type { CheckoutRequest, CheckoutSession, PaymentProvider, VerifiedEvent } from './provider.ts';
import { signLikeStripe, verifyStripeSignature } from './stripe-provider.ts';

export const FAKE_CHECKOUT_PATH = '/api/v1/payments/fake-checkout';

export class FakePaymentProvider implements PaymentProvider {
  readonly name = 'fake';
  readonly #webhookSecret: string;

  constructor(webhookSecret: string) {
    this.#webhookSecret = webhookSecret;
  }

  async createCheckout(request: CheckoutRequest): Promise<CheckoutSession> {
    const id = newStripeId('cs_test');
    return { id, url: `${new URL(request.successUrl).origin}${FAKE_CHECKOUT_PATH}/${id}` };
  }

  verifyWebhook(payload: string, header: string | undefined, nowMs: number): Promise<VerifiedEvent> {
    return verifyStripeSignature(payload, header, this.#webhookSecret, nowMs);
  }

  /** The Stripe-Signature header Stripe would send with `payload` at `timestamp` (seconds). */
  sign(payload: string, timestamp: number): Promise<string> {
    return signLikeStripe(payload, this.#webhookSecret, timestamp);
  }
}
