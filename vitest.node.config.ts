// Node tests: the transcoder (RTMP, CMAF packager, ffmpeg ladder, uploader) on real sockets and a
// real ffmpeg.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/node/**/*.test.ts'],
    environment: 'node',
    // In CI a failed test is run once more, as the end-to-end suite does (vitest.e2e.config.ts):
    // these start real transcoders, ffmpeg and sockets on a 2-core machine; a broken feature
    // still fails both runs, and the report names a test that needed its second run.
    retry: process.env.CI ? 1 : 0,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
