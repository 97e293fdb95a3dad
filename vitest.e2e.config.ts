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
    // In CI (one 2-core machine running a whole platform, Chromium and ffmpeg per file) a failed
    // end-to-end test is run once more, as Playwright's CI default does; a broken feature fails
    // both runs, and vitest's report names every test that needed its second run.
    retry: process.env.CI ? 1 : 0,
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
