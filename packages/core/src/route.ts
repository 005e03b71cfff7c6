/**
 * A route says which provider of a step gets a message. `mode` discriminates the kinds;
 * every `switch (route.mode)` ends in an exhaustiveness check, so adding a member makes
 * the compiler point at each place that must learn it. Every choice here is a pure
 * function of the route and a ProviderChoiceContext of plain data (what is unavailable,
 * the recipient, prices, health, a random source), so it is tested without a server.
 */
export type Route = LeafRoute | RulesRoute;

/** A route that names providers itself (what a rule leads to). */
export type LeafRoute = FailoverRoute | WeightedRoute | LeastCostRoute;

export const ROUTE_MODES = ['failover', 'weighted', 'rules', 'least_cost'] as const;

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

/**
 * The cheapest provider for the recipient's country by the providers' price tables,
 * then the next cheapest as failover. A provider with no price for the country (nor a
 * `*` price) comes after every priced one; ties keep route order.
 */
export interface LeastCostRoute {
  readonly mode: 'least_cost';
  readonly providers: readonly string[];
}

/** The route of the first rule the recipient matches, else `otherwise`. */
export interface RulesRoute {
  readonly mode: 'rules';
  readonly rules: readonly RouteRule[];
  readonly otherwise: LeafRoute;
}

export interface RouteRule {
  readonly match: RouteMatch;
  readonly route: LeafRoute;
}

/**
 * What a rule matches: a recipient in one of `countries` (ISO 3166-1 alpha-2, from the
 * number) and whose E.164 number starts with one of `prefixes`. A field left out
 * matches every recipient; a recipient without a phone number matches only a rule
 * that names neither.
 */
export interface RouteMatch {
  readonly countries?: readonly string[];
  readonly prefixes?: readonly string[];
}

/** Prices of one provider per recipient country (ISO alpha-2), `*` for any other; any currency, one per tenant. */
export type PriceTable = Readonly<Record<string, number>>;

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
  /** The recipient, for rules: its E.164 number and the country it belongs to. */
  readonly recipient?: RouteRecipient | undefined;
  /** Price table per provider id, for least_cost. */
  readonly prices?: ReadonlyMap<string, PriceTable> | undefined;
  /**
   * Health weight per provider id in [0, 1] (providerHealthWeight); absent means 1. A
   * provider at 0 is skipped while another can take the message; between 0 and 1 it gets
   * that share of what it would get healthy: its weight scaled in a weighted route, that
   * chance of being taken at its turn in an ordered one.
   */
  readonly health?: ReadonlyMap<string, number> | undefined;
}

export interface RouteRecipient {
  readonly phone?: string | undefined;
  readonly country?: string | undefined;
}

/** Every provider a route may choose, each once, in route order (to check they exist, preload limits). */
export function routeProviders(route: Route): string[] {
  return [...new Set(routeProviderRefs(route).map((ref) => ref.id))];
}

/** Every provider named in a route with the JSON pointer of where, relative to the route. */
export function routeProviderRefs(route: Route): { id: string; path: string }[] {
  switch (route.mode) {
    case 'failover':
    case 'least_cost':
      return route.providers.map((id, i) => ({ id, path: `/providers/${i}` }));
    case 'weighted':
      return route.providers.map((p, i) => ({ id: p.id, path: `/providers/${i}/id` }));
    case 'rules':
      return [
        ...route.rules.flatMap((rule, r) =>
          routeProviderRefs(rule.route).map((ref) => ({ id: ref.id, path: `/rules/${r}/route${ref.path}` })),
        ),
        ...routeProviderRefs(route.otherwise).map((ref) => ({ id: ref.id, path: `/otherwise${ref.path}` })),
      ];
    default:
      return unknownMode(route);
  }
}

/** The route that applies to the recipient: a rules route's first matching rule's, or its otherwise. */
export function effectiveRoute(route: Route, recipient: RouteRecipient | undefined): LeafRoute {
  if (route.mode !== 'rules') return route;
  return route.rules.find((rule) => matchesRecipient(rule.match, recipient))?.route ?? route.otherwise;
}

/** Whether a recipient matches a rule (see RouteMatch). */
export function matchesRecipient(match: RouteMatch, recipient: RouteRecipient | undefined): boolean {
  const { countries, prefixes } = match;
  if (countries !== undefined && !countries.includes(recipient?.country ?? '')) return false;
  if (prefixes !== undefined) {
    const phone = recipient?.phone;
    if (phone === undefined || !prefixes.some((prefix) => phone.startsWith(prefix))) return false;
  }
  return true;
}

/** The provider for a message, or undefined when every provider of the route is unavailable. */
export function chooseProvider(route: Route, context: ProviderChoiceContext): string | undefined {
  const leaf = effectiveRoute(route, context.recipient);
  switch (leaf.mode) {
    case 'failover':
    case 'least_cost':
      return pickInOrder(orderedProviders(leaf, context), context);
    case 'weighted': {
      const usable = leaf.providers.filter((p) => p.weight > 0 && !context.unavailable.has(p.id));
      const healthy = usable
        .map((p) => ({ id: p.id, weight: p.weight * healthOf(context, p.id) }))
        .filter((p) => p.weight > 0);
      // Every usable provider unhealthy: one of them still beats none.
      const candidates = healthy.length > 0 ? healthy : usable;
      if (context.key !== undefined) return rendezvous(candidates, context.key);
      return weightedPick(candidates, context.random());
    }
    default:
      return unknownMode(leaf);
  }
}

/**
 * The provider to try after `failed` failed for a message. Ordered routes (failover,
 * least cost): the next available one after it in their order, never wrapping round
 * (undefined once the last has failed). Weighted: a new choice among the others.
 */
export function nextProvider(
  route: Route,
  failed: string,
  context: ProviderChoiceContext,
): string | undefined {
  const leaf = effectiveRoute(route, context.recipient);
  switch (leaf.mode) {
    case 'failover':
    case 'least_cost': {
      const order = orderedProviders(leaf, context);
      return pickInOrder(order.slice(order.indexOf(failed) + 1), context);
    }
    case 'weighted':
      return chooseProvider(leaf, {
        ...context,
        unavailable: new Set([...context.unavailable, failed]),
      });
    default:
      return unknownMode(leaf);
  }
}

/** The providers of an ordered route in the order they are tried. */
function orderedProviders(route: FailoverRoute | LeastCostRoute, context: ProviderChoiceContext): readonly string[] {
  if (route.mode === 'failover') return route.providers;
  const country = context.recipient?.country;
  const price = (id: string): number => {
    const table = context.prices?.get(id);
    return (country === undefined ? undefined : table?.[country]) ?? table?.['*'] ?? Infinity;
  };
  // Array.prototype.sort is stable: equal prices keep route order.
  return [...route.providers].sort((a, b) => price(a) - price(b));
}

/**
 * The first available provider in order that takes the message: a healthy one always,
 * a down-weighted one with its health as the chance (so a recovering provider gets a
 * growing share, not all traffic at once), one at health 0 never while another can.
 */
function pickInOrder(order: readonly string[], context: ProviderChoiceContext): string | undefined {
  const available = order.filter((id) => !context.unavailable.has(id));
  const candidates = available.filter((id) => healthOf(context, id) > 0);
  for (const id of candidates) {
    const health = healthOf(context, id);
    if (health >= 1 || context.random() < health) return id;
  }
  return candidates[0] ?? available[0];
}

function healthOf(context: ProviderChoiceContext, id: string): number {
  return context.health?.get(id) ?? 1;
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
