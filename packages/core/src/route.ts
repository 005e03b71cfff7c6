/**
 * A route says which provider of a step gets a message. `mode` discriminates the kinds,
 * so later kinds are new members of the union, not a rewrite: e.g.
 * `{ mode: 'rules', rules: [{ match: { country: ['DE'] }, route }], otherwise: route }`
 * for country/prefix rules (nesting routes), or `{ mode: 'least_cost', providers: [...] }`.
 * Every `switch (route.mode)` ends in an exhaustiveness check, so adding a member makes
 * the compiler point at each place that must learn it. Facts such rules need (the
 * recipient's country, prices) will arrive as extra optional fields of
 * ProviderChoiceContext.
 */
export type Route = FailoverRoute | WeightedRoute;

export const ROUTE_MODES = ['failover', 'weighted'] as const;

export type RouteMode = Route['mode'];

/** Try providers in order; the next one only when the one before is unavailable or failed. */
export interface FailoverRoute {
  readonly mode: 'failover';
  readonly providers: readonly string[];
}

/** Spread traffic over providers in proportion to their weights. */
export interface WeightedRoute {
  readonly mode: 'weighted';
  readonly providers: readonly WeightedProvider[];
}

export interface WeightedProvider {
  readonly id: string;
  /** Relative share; positive. */
  readonly weight: number;
}

export interface ProviderChoiceContext {
  /** Providers not to choose now: disabled, circuit open, already failed for this message. */
  readonly unavailable: ReadonlySet<string>;
  /** Uniform in [0, 1); injectable so choices are reproducible in tests. */
  readonly random: () => number;
  /**
   * Makes a weighted choice sticky: when given (e.g. the recipient), the choice is a
   * function of the key instead of `random`, by weighted rendezvous hashing. The same
   * recipient keeps the same provider (same sender id, one conversation thread), and a
   * provider going unavailable moves only the keys it had. Failover ignores it.
   */
  readonly key?: string | undefined;
}

/** Every provider a route may choose, in route order (to check they exist, preload limits). */
export function routeProviders(route: Route): string[] {
  switch (route.mode) {
    case 'failover':
      return [...route.providers];
    case 'weighted':
      return route.providers.map((p) => p.id);
    default:
      return unknownMode(route);
  }
}

/** The provider for a message, or undefined when every provider of the route is unavailable. */
export function chooseProvider(route: Route, context: ProviderChoiceContext): string | undefined {
  switch (route.mode) {
    case 'failover':
      return route.providers.find((id) => !context.unavailable.has(id));
    case 'weighted': {
      const available = route.providers.filter(
        (p) => p.weight > 0 && !context.unavailable.has(p.id),
      );
      if (context.key !== undefined) return rendezvous(available, context.key);
      return weightedPick(available, context.random());
    }
    default:
      return unknownMode(route);
  }
}

/**
 * The provider to try after `failed` failed for a message. Failover: the next available
 * one after it in route order, never wrapping round (undefined once the last has failed).
 * Weighted: a new choice among the others.
 */
export function nextProvider(
  route: Route,
  failed: string,
  context: ProviderChoiceContext,
): string | undefined {
  switch (route.mode) {
    case 'failover': {
      const after = route.providers.indexOf(failed) + 1;
      return route.providers.slice(after).find((id) => !context.unavailable.has(id));
    }
    case 'weighted':
      return chooseProvider(route, {
        ...context,
        unavailable: new Set([...context.unavailable, failed]),
      });
    default:
      return unknownMode(route);
  }
}

function weightedPick(providers: readonly WeightedProvider[], random: number): string | undefined {
  const total = providers.reduce((sum, p) => sum + p.weight, 0);
  let point = random * total;
  for (const provider of providers) {
    point -= provider.weight;
    if (point < 0) return provider.id;
  }
  // random() returned 1 or rounding left a sliver: the last provider.
  return providers.at(-1)?.id;
}

/** Weighted rendezvous (highest random weight) hashing: P(provider) ∝ weight. */
function rendezvous(providers: readonly WeightedProvider[], key: string): string | undefined {
  let best: string | undefined;
  let bestScore = -Infinity;
  for (const provider of providers) {
    const score = -provider.weight / Math.log(unitHash(`${key}\u0000${provider.id}`));
    if (score > bestScore) {
      best = provider.id;
      bestScore = score;
    }
  }
  return best;
}

/** A hash of `text` spread over the open interval (0, 1): FNV-1a, then murmur3's finaliser. */
function unitHash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  h ^= h >>> 16;
  return ((h >>> 0) + 0.5) / 2 ** 32;
}

function unknownMode(route: never): never {
  throw new Error(`unknown route mode: ${JSON.stringify((route as { mode?: unknown }).mode)}`);
}
