// The seam between the platform and a payment provider (docs/payments.md): Stripe in production,
// the built-in fake for local runs and tests. Both speak Stripe's webhook format, so one webhook
// endpoint and one event consumer serve both.
import { z } from 'zod';
import { encodeHex } from '../../common/hashing.ts';
import { log } from '../../common/log.ts';
import { signHmacSha256 } from '../shared/crypto.ts';
import { FakePaymentProvider } from './fake-provider.ts';
import { StripePaymentProvider } from './stripe-provider.ts';

/** What one checkout sells; the amount was decided by the server's price table. */
export interface CheckoutRequest {
  orderId: string;
  /** 'subscription' renews monthly; 'payment' is a one-time charge (bits, tips, gift subs). */
  mode: 'payment' | 'subscription';
  amountCents: number;
  currency: string;
  description: string;
  successUrl: string;
  cancelUrl: string;
}

export interface CheckoutSession {
  id: string;
  url: string;
}

/** A webhook that passed signature and timestamp checks: Stripe's event envelope. */
export interface VerifiedEvent {
  id: string;
  type: string;
  created: number;
  payload: string;
}

export interface PaymentProvider {
  readonly name: 'stripe' | 'fake';
  createCheckout(request: CheckoutRequest): Promise<CheckoutSession>;
  /** Throws WebhookRefused on a missing, forged or stale signature. */
  verifyWebhook(payload: string, signatureHeader: string | undefined, nowMs: number): Promise<VerifiedEvent>;
}

export class WebhookRefused extends Error {}

/** Stripe's default tolerance: a signature older than 5 minutes is refused (replay defence). */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

/**
 * The fake provider's signing secret when none is configured: derived from STREAM_KEY_SECRET, so
 * local runs and tests sign and verify with a per-deployment secret nobody has to set.
 */
export async function deriveFakeWebhookSecret(env: Env): Promise<string> {
  return `whsec_${encodeHex(await signHmacSha256(env.STREAM_KEY_SECRET, 'fake-payments-webhook'))}`;
}

export class PaymentsNotConfigured extends Error {}

const ProviderName = z.enum(['fake', 'stripe']);

export async function createPaymentProvider(env: Env): Promise<PaymentProvider> {
  if (ProviderName.parse(env.PAYMENT_PROVIDER) === 'stripe') {
    if (!env.STRIPE_SECRET_KEY || !env.STRIPE_WEBHOOK_SECRET) {
      log.error('payments_not_configured', { provider: 'stripe' });
      throw new PaymentsNotConfigured('STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET must be set');
    }
    return new StripePaymentProvider(env.STRIPE_SECRET_KEY, env.STRIPE_WEBHOOK_SECRET);
  }
  return new FakePaymentProvider(env.STRIPE_WEBHOOK_SECRET ?? (await deriveFakeWebhookSecret(env)));
}
