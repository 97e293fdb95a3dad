// End-to-end tests: `wrangler dev` + the transcoder as processes, a real ffmpeg publisher over
// RTMP, and hls.js in Debian's Chromium. One file at a time: each starts a whole platform and
// the machine has two cores.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts'],
    environment: 'node',
    globalSetup: ['./test/e2e/global-setup.ts'],
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
