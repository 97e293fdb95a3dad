// The server's price table (wrangler.toml [vars.PAYMENT_PRICES], docs/payments.md): every amount a
// checkout asks for and every amount a webhook must carry comes from here, never from the client.
import { z } from 'zod';

const Cents = z.number().int().positive().max(1_000_000);

export const PriceTable = z.object({
  /** ISO 4217, lower case as Stripe writes it. */
  currency: z.string().regex(/^[a-z]{3}$/),
  /** Monthly price of each subscription tier. */
  subscription_tiers: z.object({ '1000': Cents, '2000': Cents, '3000': Cents }),
  /** Bits packs on sale: bits → price. */
  bits_packs: z.record(z.string().regex(/^[1-9][0-9]{0,5}$/), Cents),
  tip_min_cents: Cents,
  tip_max_cents: Cents,
  /** The streamer's share of subscription, tip and bits revenue, in percent (the rest is the platform's). */
  revenue_share_percent: z.number().int().min(0).max(100),
  /** Access kept after a failed renewal while the provider retries the card. */
  grace_period_days: z.number().int().min(0).max(30),
});
export type PriceTable = z.infer<typeof PriceTable>;
export type SubscriptionTier = 1000 | 2000 | 3000;

/** `wrangler dev --var` hands tables over as JSON strings; wrangler.toml as objects. */
const PriceInput = z.union([
  PriceTable,
  z
    .string()
    .max(10_000)
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'PAYMENT_PRICES is not JSON' });
        return z.NEVER;
      }
    })
    .pipe(PriceTable),
]);

/** Throws on a malformed table: a deploy with no valid prices must not sell anything. */
export function readPriceTable(env: Env): PriceTable {
  return PriceInput.parse(env.PAYMENT_PRICES);
}

export function priceSubscription(prices: PriceTable, tier: SubscriptionTier): number {
  return prices.subscription_tiers[`${tier}`];
}

/** The price of a bits pack, or null when no such pack is sold. */
export function priceBitsPack(prices: PriceTable, bits: number): number | null {
  return prices.bits_packs[String(bits)] ?? null;
}

/** The streamer's share of `cents`, rounded down (the platform keeps the fraction of a cent). */
export function shareForStreamer(prices: PriceTable, cents: number): number {
  return Math.floor((cents * prices.revenue_share_percent) / 100);
}
