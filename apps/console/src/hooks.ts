import { createContext } from 'preact';
import { useCallback, useContext, useEffect, useRef, useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { queryString, type ApiError, type Session } from './api.ts';

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (session === null) throw new Error('a page rendered outside the logged-in layout');
  return session;
}

/** What a load is at: nothing yet, the answer, or why there is none. */
export interface Loaded<T> {
  readonly data: T | undefined;
  readonly error: ApiError | Error | undefined;
  readonly loading: boolean;
  readonly reload: () => void;
}

/**
 * Loads `load()` whenever `deps` change (null: nothing to load); an answer that arrives
 * after the next load started is dropped, so a slow page never overwrites a newer one.
 */
export function useLoad<T>(load: (() => Promise<T>) | null, deps: readonly unknown[]): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<ApiError | Error | undefined>(undefined);
  const [loading, setLoading] = useState(false);
  const [round, setRound] = useState(0);
  const latest = useRef(0);
  useEffect(() => {
    if (load === null) {
      setData(undefined);
      setError(undefined);
      return;
    }
    const mine = ++latest.current;
    setLoading(true);
    load().then(
      (value) => {
        if (mine !== latest.current) return;
        setData(value);
        setError(undefined);
        setLoading(false);
      },
      (reason: unknown) => {
        if (mine !== latest.current) return;
        setError(reason instanceof Error ? reason : new Error(String(reason)));
        setLoading(false);
      },
    );
  }, [...deps, round]);
  const reload = useCallback(() => setRound((n) => n + 1), []);
  return { data, error, loading, reload };
}

/** Calls `tick` every `ms` while the page is shown (and once at once). */
export function useInterval(tick: () => void, ms: number): void {
  const saved = useRef(tick);
  saved.current = tick;
  useEffect(() => {
    saved.current();
    const timer = setInterval(() => saved.current(), ms);
    return () => clearInterval(timer);
  }, [ms]);
}

/**
 * The tenant a page shows. An admin key: its own, always. An operator key: `?tenant=`
 * of the page's address, so a link names what it shows; undefined until one is picked.
 */
export function useTenant(): { tenant: string | undefined; setTenant: (id: string | undefined) => void; operator: boolean } {
  const session = useSession();
  const location = useLocation();
  const operator = session.role === 'operator';
  const tenant = operator ? location.query['tenant'] || undefined : session.tenant.id;
  const setTenant = (id: string | undefined) => {
    location.route(`${location.path}${queryString({ ...location.query, tenant: id })}`);
  };
  return { tenant, setTenant, operator };
}

/** A console path with `?tenant=` kept for an operator, so moving between pages stays on one tenant. */
export function useHref(): (path: string, query?: Record<string, string | number | undefined>) => string {
  const { tenant, operator } = useTenant();
  return (path, query = {}) => `/console${path}${queryString({ ...query, ...(operator ? { tenant } : {}) })}`;
}
