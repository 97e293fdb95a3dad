// hls.js is most of the app's weight, and only pages with a player need it: it is its own chunk,
// fetched once. The watch page calls this on mount so the download overlaps the API lookups.
import type HlsClass from 'hls.js';

let loading: Promise<typeof HlsClass> | null = null;

export function loadHls(): Promise<typeof HlsClass> {
  loading ??= import('hls.js').then((module) => module.default);
  // A failed download is not cached: the next caller tries again.
  loading.catch(() => {
    loading = null;
  });
  return loading;
}
