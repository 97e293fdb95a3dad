// Loads one API resource for a component: aborted when the component goes away or the path
// changes, so a slow answer for an old page never lands on a new one. A reload answered 404 clears
// the data; any other failed reload keeps the last good answer beside the error.
import { useCallback, useEffect, useState } from 'react';
import type * as z from 'zod/mini';
import { isAbort, isNotFound, requestApi } from './client.ts';

export type ApiState<T> = {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
};

export function useApi<S extends z.ZodMiniType>(path: string | null, schema: S): ApiState<z.infer<S>> {
  const [data, setData] = useState<z.infer<S> | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(path !== null);
  const [generation, setGeneration] = useState(0);
  const reload = useCallback(() => setGeneration((n) => n + 1), []);

  // biome-ignore lint/correctness/useExhaustiveDependencies: `generation` is the reload trigger.
  useEffect(() => {
    if (path === null) {
      setLoading(false);
      return;
    }
    const controller = new AbortController();
    setLoading(true);
    requestApi(path, schema, { signal: controller.signal }).then(
      (value) => {
        setData(value);
        setError(undefined);
        setLoading(false);
      },
      (failure: unknown) => {
        if (isAbort(failure)) return;
        // A 404 says the resource is gone (a stream that ended, a deleted clip): showing the last
        // answer would claim it still exists. Other failures keep it, as a blip should not blank a page.
        if (isNotFound(failure)) setData(undefined);
        setError(failure);
        setLoading(false);
      },
    );
    return () => controller.abort();
  }, [path, schema, generation]);

  return { data, error, loading, reload };
}
