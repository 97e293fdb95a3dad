// Builds the web app to web/dist, which the Worker serves as static assets with an SPA fallback.
// In dev, everything the Worker serves besides the app (API, playback, chat sockets) is proxied to
// `wrangler dev` so the app stays same-origin, exactly as in production.
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const WORKER_ORIGIN = process.env.EDGESTREAM_WORKER_ORIGIN ?? 'http://127.0.0.1:8787';

export default defineConfig({
  root: import.meta.dirname,
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true },
  server: {
    host: '127.0.0.1',
    proxy: {
      '/api': WORKER_ORIGIN,
      '/live': WORKER_ORIGIN,
      '/vod': WORKER_ORIGIN,
      '/clips': WORKER_ORIGIN,
      '/highlights': WORKER_ORIGIN,
      '/media': WORKER_ORIGIN,
      '/ws': { target: WORKER_ORIGIN, ws: true },
    },
  },
});
