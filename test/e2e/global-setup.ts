// Builds the web app once before the end-to-end tests (the Worker serves it as static assets).
import { buildWeb } from '../../scripts/lib/platform.ts';

export default async function setup(): Promise<void> {
  await buildWeb(true);
}
