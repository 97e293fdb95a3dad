// Node tests: the transcoder (RTMP, CMAF packager, ffmpeg ladder, uploader) on real sockets and a
// real ffmpeg.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/node/**/*.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
