import { Hono } from 'hono';
import { handleError } from '../shared/errors.ts';

export const apiApp = new Hono<{ Bindings: Env }>();
apiApp.onError(handleError);
