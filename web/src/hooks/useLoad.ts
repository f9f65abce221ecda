// One GET for a page: its result, its error, and a reload. An answer for older arguments is
// never shown for newer ones (each answer is kept with the loader that asked for it).
import { useCallback, useEffect, useState } from "react";

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  reload: () => void;
}

interface Answer<T> {
  from: unknown;
  data: T | null;
  error: string | null;
}

export function useLoad<T>(load: () => Promise<T>, deps: readonly unknown[]): Loaded<T> {
  const [answer, setAnswer] = useState<Answer<T>>({ from: null, data: null, error: null });
  const [tick, setTick] = useState(0);
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const run = useCallback(load, deps);

  useEffect(() => {
    let live = true;
    run()
      .then((data) => live && setAnswer({ from: run, data, error: null }))
      .catch((e: unknown) => {
        if (live) setAnswer({ from: run, data: null, error: e instanceof Error ? e.message : String(e) });
      });
    return () => {
      live = false;
    };
  }, [run, tick]);

  const mine = answer.from === run;
  return {
    data: mine ? answer.data : null,
    error: mine ? answer.error : null,
    reload: () => setTick((t) => t + 1),
  };
}
