// The fleet endpoint transcoder nodes register and heart-beat to (contract: protocol/fleet.ts).
// Only a node token is accepted here, and a node may speak only for itself: the token's node id
// must be the body's. The registry object's outcomes become statuses in this one place: a stale
// session or a replayed sequence is 409, so a node re-registers rather than trusting an old run.
import { zValidator } from '@hono/zod-validator';
import { Hono } from 'hono';
import {
  HEARTBEAT_INTERVAL_MS,
  HeartbeatRequest,
  LeaveRequest,
  NODE_TIMEOUT_MS,
  RegisterRequest,
} from '../../protocol/fleet.ts';
import { ApiError, badRequest, conflict, forbidden, handleError, unauthorized } from '../shared/errors.ts';
import { authenticateIngest } from './fleet-credentials.ts';

/** The one registry object of a deployment. */
export function getFleetRegistry(env: Env) {
  return env.FLEET_REGISTRY.getByName('global');
}

const validationHook = (result: { success: boolean; error?: { issues: unknown } }) => {
  if (!result.success) throw badRequest('Request validation failed', result.error?.issues);
};

export const fleetApp = new Hono<{ Bindings: Env; Variables: { nodeId: string } }>();
fleetApp.onError(handleError);

// For operators, with the master INGEST_SECRET only: every node and placement (docs/deploy.md).
fleetApp.get('/nodes', async (c) => {
  const caller = await authenticateIngest(c.req.header('authorization'), c.env.INGEST_SECRET);
  if (caller === null) throw unauthorized('Bad ingest secret');
  if (caller.kind !== 'master') throw forbidden('The fleet status takes the master secret');
  return c.json(await getFleetRegistry(c.env).snapshot());
});

fleetApp.use('*', async (c, next) => {
  const caller = await authenticateIngest(c.req.header('authorization'), c.env.INGEST_SECRET);
  if (caller === null) throw unauthorized('Bad node credentials');
  if (caller.kind !== 'node') throw forbidden('The fleet API takes a node token');
  c.set('nodeId', caller.nodeId);
  await next();
});

/** A node may only speak for the node its token names. */
function assertSelf(tokenNodeId: string, bodyNodeId: string): void {
  if (tokenNodeId !== bodyNodeId) throw forbidden('A node token speaks only for its own node');
}

fleetApp.post('/register', zValidator('json', RegisterRequest, validationHook), async (c) => {
  const body = c.req.valid('json');
  assertSelf(c.get('nodeId'), body.node_id);
  const outcome = await getFleetRegistry(c.env).register(body);
  if (outcome.kind === 'full')
    throw new ApiError(503, 'unavailable', 'The fleet registry is full', { retryAfterSeconds: 60 });
  return c.json({
    session: outcome.session,
    heartbeat_interval_ms: HEARTBEAT_INTERVAL_MS,
    node_timeout_ms: NODE_TIMEOUT_MS,
  });
});

fleetApp.post('/heartbeat', zValidator('json', HeartbeatRequest, validationHook), async (c) => {
  const body = c.req.valid('json');
  assertSelf(c.get('nodeId'), body.node_id);
  const outcome = await getFleetRegistry(c.env).heartbeat(body);
  switch (outcome.kind) {
    case 'ok':
      return c.json({ state: outcome.state, foreign: outcome.foreign });
    case 'stale-session':
      throw conflict('This session is not the node’s current one; register again');
    case 'stale-sequence':
      throw new ApiError(409, 'stale_sequence', 'Heartbeat sequence already seen', {
        details: { last_seq: outcome.lastSeq },
      });
  }
});

fleetApp.post('/leave', zValidator('json', LeaveRequest, validationHook), async (c) => {
  const body = c.req.valid('json');
  assertSelf(c.get('nodeId'), body.node_id);
  const outcome = await getFleetRegistry(c.env).leave(body.node_id, body.session);
  if (outcome.kind === 'stale-session') throw conflict('This session is not the node’s current one');
  return c.body(null, 204);
});
