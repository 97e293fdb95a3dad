// The parts of Stripe's event objects the platform reads (https://docs.stripe.com/api/events/types),
// parsed with zod at the boundary: an event type we do not handle, or a shape we do not expect, is
// recorded and acknowledged, never cast.
import { z } from 'zod';

const OrderMetadata = z.object({ order_id: z.string().max(64) });

export const CheckoutSessionObject = z.object({
  id: z.string().max(255),
  mode: z.enum(['payment', 'subscription', 'setup']),
  amount_total: z.number().int().nullable(),
  currency: z.string().nullable(),
  payment_status: z.string(),
  metadata: OrderMetadata,
  payment_intent: z.string().nullable().optional(),
  subscription: z.string().nullable().optional(),
});

export const SubscriptionObject = z.object({
  id: z.string().max(255),
  status: z.string(),
  cancel_at_period_end: z.boolean(),
  metadata: OrderMetadata,
  ended_at: z.number().int().nullable().optional(),
  items: z.object({ data: z.array(z.object({ current_period_end: z.number().int() })).min(1) }),
});

export const InvoiceObject = z.object({
  id: z.string().max(255),
  amount_paid: z.number().int(),
  amount_due: z.number().int(),
  currency: z.string(),
  billing_reason: z.string().nullable(),
  parent: z.object({
    subscription_details: z.object({ subscription: z.string().max(255), metadata: OrderMetadata }),
  }),
  lines: z.object({ data: z.array(z.object({ period: z.object({ end: z.number().int() }) })).min(1) }),
  payments: z
    .object({
      data: z.array(z.object({ payment: z.object({ payment_intent: z.string().max(255).optional() }) })),
    })
    .optional(),
});

export const ChargeObject = z.object({
  id: z.string().max(255),
  payment_intent: z.string().max(255).nullable(),
  amount: z.number().int(),
  amount_refunded: z.number().int(),
});

export const DisputeObject = z.object({
  id: z.string().max(255),
  charge: z.string().max(255),
  payment_intent: z.string().max(255).nullable(),
  amount: z.number().int(),
});

const envelope = <T extends string, O extends z.ZodType>(type: T, object: O) =>
  z.object({
    id: z.string().max(255),
    type: z.literal(type),
    created: z.number().int(),
    data: z.object({ object }),
  });

/** The events the platform acts on. Anything else verifies, is recorded and is ignored. */
export const HandledEvent = z.discriminatedUnion('type', [
  envelope('checkout.session.completed', CheckoutSessionObject),
  envelope('customer.subscription.created', SubscriptionObject),
  envelope('customer.subscription.updated', SubscriptionObject),
  envelope('customer.subscription.deleted', SubscriptionObject),
  envelope('invoice.paid', InvoiceObject),
  envelope('invoice.payment_failed', InvoiceObject),
  envelope('charge.refunded', ChargeObject),
  envelope('charge.dispute.created', DisputeObject),
]);
export type HandledEvent = z.infer<typeof HandledEvent>;
export type HandledEventType = HandledEvent['type'];
export const HANDLED_EVENT_TYPES: ReadonlySet<string> = new Set<HandledEventType>(
  HandledEvent.options.map((option) => option.shape.type.value),
);

/** The payment intent an invoice was paid by, or a key derived from the invoice when it has none. */
export function readInvoicePaymentKey(invoice: z.infer<typeof InvoiceObject>): string {
  return (
    invoice.payments?.data.find((entry) => entry.payment.payment_intent)?.payment.payment_intent ??
    `invoice:${invoice.id}`
  );
}
