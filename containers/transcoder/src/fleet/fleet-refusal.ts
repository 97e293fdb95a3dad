// A refused placement (protocol/fleet.ts FLEET_REFUSAL_CODES): the origin answers the publish
// authorization of a node with 503 and a code when the fleet or this node has no room. It is not
// an outage to retry: the publisher is told the reason at once (NetStream.Publish.Failed).
import { z } from 'zod';
import { FLEET_REFUSAL_CODES, type FleetRefusalCode } from '../../../../protocol/fleet.ts';

export class FleetRefusalError extends Error {
  override readonly name = 'FleetRefusalError';
  readonly code: FleetRefusalCode;

  constructor(code: FleetRefusalCode, message: string) {
    super(message);
    this.code = code;
  }
}

const RefusalBody = z.object({
  error: z.object({ code: z.enum(FLEET_REFUSAL_CODES), message: z.string().max(300) }),
});

/** The refusal a response carries, or null when it is anything else. */
export function readFleetRefusal(status: number, body: string): FleetRefusalError | null {
  if (status !== 503) return null;
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return null;
  }
  const parsed = RefusalBody.safeParse(json);
  return parsed.success ? new FleetRefusalError(parsed.data.error.code, parsed.data.error.message) : null;
}
