// Loads one API resource for a component: aborted when the component goes away or the key changes,
// so a slow answer for an old page never lands on a new one. A reload answered 404 clears the data;
// any other failed reload keeps the last good answer beside the error.
import { useCallback, useEffect, useRef, useState } from 'react';
import { isAbort, isNotFound } from './client.ts';

export type ApiState<T> = {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
};

/** What a loader passes to the typed client's second argument (`{ init }`) so the request can be aborted. */
export type LoadOptions = { init: { signal: AbortSignal } };

/**
 * `key` names the resource (its path, say): a new key loads again, null loads nothing. `load` makes
 * the request with the typed client, e.g.
 * `useApi(`/vods/${id}`, (options) => readApi(api.vods[':id'].$get({ param: { id } }, options)))`.
 */
export function useApi<T>(key: string | null, load: (options: LoadOptions) => Promise<T>): ApiState<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(key !== null);
  const [generation, setGeneration] = useState(0);
  const reload = useCallback(() => setGeneration((n) => n + 1), []);
  // The loader is a new closure on every render; the key says when it asks for something new.
  const loadRef = useRef(load);
  loadRef.current = load;

  // biome-ignore lint/correctness/useExhaustiveDependencies: `generation` is the reload trigger.
  useEffect(() => {
    if (key === null) {
      setLoading(false);
      return;
    }
    const controller = new AbortController();
    setLoading(true);
    loadRef.current({ init: { signal: controller.signal } }).then(
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
  }, [key, generation]);

  return { data, error, loading, reload };
}
