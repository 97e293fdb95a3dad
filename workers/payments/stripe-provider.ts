// Stripe through its official package, which runs in workerd: Checkout Sessions for payments and
// subscriptions (fetch-based HTTP client), webhooks verified with Web Crypto
// (`constructEventAsync` with the SubtleCrypto provider; the synchronous Node variant cannot run here).
import Stripe from 'stripe';
import {
  type CheckoutRequest,
  type CheckoutSession,
  type PaymentProvider,
  type VerifiedEvent,
  WEBHOOK_TOLERANCE_SECONDS,
  WebhookRefused,
} from './provider.ts';

const cryptoProvider = Stripe.createSubtleCryptoProvider();

/** Verifies a Stripe-Signature header with the package itself, so the fake's events pass the same check. */
export async function verifyStripeSignature(
  payload: string,
  header: string | undefined,
  secret: string,
  nowMs: number,
): Promise<VerifiedEvent> {
  if (!header) throw new WebhookRefused('No Stripe-Signature header');
  try {
    const event = await Stripe.webhooks.constructEventAsync(
      payload,
      header,
      secret,
      WEBHOOK_TOLERANCE_SECONDS,
      cryptoProvider,
      // The package compares this (milliseconds) with the header's `t` (seconds).
      nowMs,
    );
    return { id: event.id, type: event.type, created: event.created, payload };
  } catch (error) {
    // The package's message runs on with advice; its first line says what failed.
    const reason = error instanceof Error ? (error.message.split('\n')[0] ?? '') : '';
    throw new WebhookRefused(reason.trim() || 'Signature refused');
  }
}

/** Signs `payload` exactly as Stripe does (`t=<ts>,v1=<hmac>`), with the package's test helper. */
export async function signLikeStripe(payload: string, secret: string, timestamp: number): Promise<string> {
  return Stripe.webhooks.generateTestHeaderStringAsync({ payload, secret, timestamp, cryptoProvider });
}

export class StripePaymentProvider implements PaymentProvider {
  readonly name = 'stripe';
  readonly #stripe: Stripe;
  readonly #webhookSecret: string;

  /** `options.fetch` replaces the HTTP transport (tests record the API requests with it). */
  constructor(secretKey: string, webhookSecret: string, options: { fetch?: typeof fetch } = {}) {
    this.#stripe = new Stripe(secretKey, {
      httpClient: Stripe.createFetchHttpClient(options.fetch),
      maxNetworkRetries: 2,
    });
    this.#webhookSecret = webhookSecret;
  }

  async createCheckout(request: CheckoutRequest): Promise<CheckoutSession> {
    const metadata = { order_id: request.orderId };
    const session = await this.#stripe.checkout.sessions.create({
      mode: request.mode,
      client_reference_id: request.orderId,
      metadata,
      line_items: [
        {
          quantity: 1,
          price_data: {
            currency: request.currency,
            unit_amount: request.amountCents,
            product_data: { name: request.description },
            ...(request.mode === 'subscription' ? { recurring: { interval: 'month' as const } } : {}),
          },
        },
      ],
      // The order id travels on every object the webhooks carry: the subscription (and so its
      // invoices' subscription_details) and the one-time payment intent.
      ...(request.mode === 'subscription'
        ? { subscription_data: { metadata } }
        : { payment_intent_data: { metadata } }),
      success_url: request.successUrl,
      cancel_url: request.cancelUrl,
    });
    if (!session.url) throw new Error('Stripe returned a checkout session without a URL');
    return { id: session.id, url: session.url };
  }

  verifyWebhook(payload: string, header: string | undefined, nowMs: number): Promise<VerifiedEvent> {
    return verifyStripeSignature(payload, header, this.#webhookSecret, nowMs);
  }
}
