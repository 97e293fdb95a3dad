// The capacity model (scripts/capacity.ts, docs/capacity.md): its figures say where they come
// from, reproduce the seed's own arithmetic, and support the design claims the doc makes.
import { describe, expect, it } from 'vitest';
import { computeCapacity } from '../../../scripts/capacity.ts';

describe('capacity model', () => {
  const model = computeCapacity();

  it('labels every input figure measured, published, seed or assumed', () => {
    const figures = [
      model.seed,
      model.published,
      model.measured,
      model.measured.cores,
      model.assumed,
    ].flatMap((group) =>
      Object.values(group).filter(
        (value) => typeof value === 'object' && value !== null && 'source' in value,
      ),
    );
    expect(figures.length).toBeGreaterThan(20);
    for (const figure of figures)
      expect(['measured', 'published', 'seed', 'assumed']).toContain(figure.source);
  });

  it("reproduces the seed's egress figure: 200 Tbps at $0.03/GB is about $2.7M per hour", () => {
    expect(model.results.egress.gbps).toBe(200_000);
    expect(model.results.egress.cdn_per_hour_usd).toBe(2_700_000);
  });

  it('keeps one LiveStream object under its request budget at 500K viewers only with tiered collapse', () => {
    const viral = model.results.live_stream_objects.collapse.at(-1);
    expect(viral?.audience).toBe(500_000);
    expect(viral?.per_location).toBeGreaterThan(model.published.doSoftLimit.value);
    expect(viral?.tiered).toBeLessThan(model.published.doSoftLimit.value);
  });

  it('keeps the newest parts in the LiveStream object within its memory and request budget, for less than R2', () => {
    const parts = model.results.parts_in_object;
    // Even a partner ladder's 6 s of parts is a small share of an isolate others may share.
    expect(parts.held_mb_per_stream.partner).toBeLessThan(model.published.isolateMemoryMb.value / 8);
    expect(parts.viral_partner_stream.requests_per_second).toBeLessThan(parts.viral_partner_stream.budget);
    // Memory beats SQLite rows, which still beat R2 PUTs.
    expect(parts.sqlite_ring_per_hour_usd).toBeLessThan(parts.part_puts_per_hour_usd_today);
    expect(parts.part_reads_object_per_hour_usd).toBeLessThan(parts.part_reads_r2_per_hour_usd_today);
    expect(parts.saving_per_hour_usd_memory).toBeGreaterThan(parts.part_puts_per_hour_usd_today);
  });

  it('shows one ChatRoom cannot take a 50K msg/s channel, and the two-level design can', () => {
    const chat = model.results.chat;
    expect(chat.room_rpc_per_second_today).toBeGreaterThan(chat.room_budget);
    expect(chat.room_rpc_per_second_shard_batched).toBeGreaterThan(chat.room_budget);
    expect(chat.room_rpc_per_second_two_level).toBeLessThan(chat.room_budget);
    expect(chat.relay_rpc_per_second).toBeLessThan(chat.room_budget);
  });
});
