import { EgressRefusedError, type FieldProblem } from '@commstrat/core';
import type { Provider } from '@commstrat/config';
import type { EgressPolicy } from '@commstrat/egress';
import { renderTemplate, type ProviderDefinition } from '@commstrat/providers';

/** How long a verdict on one host is kept, ms: a batch of a thousand messages to one callback host costs one lookup. */
const VERDICT_TTL_MS = 30_000;
const MAX_VERDICTS = 10_000;

/**
 * The egress policy at the API: a URL a tenant sets (a message's `callback_url`, the
 * default callback URL, a provider's endpoint or token URL) is refused with 422
 * `egress_refused` naming the field, instead of failing at send time. A name that does
 * not resolve now is let through: the dispatcher's connection checks it again (and
 * refuses it then as `misconfigured`), so a passing DNS failure never refuses a message.
 * Verdicts are kept per scheme, host and port for 30 s.
 */
export class EgressChecks {
  private readonly policy: EgressPolicy;
  private readonly verdicts = new Map<string, { refusal: EgressRefusedError | undefined; until: number }>();

  constructor(policy: EgressPolicy) {
    this.policy = policy;
  }

  /** Throws EgressRefusedError naming `path` when the policy refuses `url`. */
  async checkUrl(url: string, path: string, now: number = Date.now()): Promise<void> {
    const refusal = await this.refusalOf(url, now);
    if (refusal !== undefined) throw refusal.at(path);
  }

  /** What is wrong with a provider row's targets: its endpoint, and its definition's token URL. */
  async providerProblems(provider: Provider, definition: ProviderDefinition | undefined, inline: boolean): Promise<FieldProblem[]> {
    const problems: FieldProblem[] = [];
    const add = (refusal: EgressRefusedError | undefined, path: string) => {
      if (refusal !== undefined) problems.push({ path, message: refusal.message });
    };
    if (provider.endpoint !== '') {
      if (provider.kind === 'smtp') add(await this.smtpRefusal(provider.endpoint), '/endpoint');
      else add(await this.refusalOf(provider.endpoint), '/endpoint');
    }
    const auth = definition?.auth;
    if (auth?.type === 'oauth2_client_credentials' || auth?.type === 'oauth2_jwt_bearer') {
      const tokenUrl = rendered(auth.token_url, provider.credentials);
      // Where the token URL comes from: the inline definition, a credential it reads, or the definition named by kind.
      const path = inline ? '/definition/auth/token_url' : auth.token_url.includes('credentials.') ? '/credentials' : '/kind';
      if (tokenUrl !== undefined) add(await this.refusalOf(tokenUrl), path);
    }
    if (definition !== undefined && provider.endpoint !== '') {
      const path = rendered(definition.send.path, provider.credentials);
      if (path !== undefined && leavesOrigin(provider.endpoint, path)) {
        problems.push({ path: inline ? '/definition/send/path' : '/kind', message: `sends to ${path}, away from the endpoint ${provider.endpoint}` });
      }
    }
    return problems;
  }

  /** What is wrong with a definition saved on its own: a literal token URL, a path that leaves the endpoint. */
  async definitionProblems(definition: ProviderDefinition): Promise<FieldProblem[]> {
    const problems: FieldProblem[] = [];
    const auth = definition.auth;
    if ((auth?.type === 'oauth2_client_credentials' || auth?.type === 'oauth2_jwt_bearer') && !auth.token_url.includes('{{')) {
      const refusal = await this.refusalOf(auth.token_url);
      if (refusal !== undefined) problems.push({ path: '/auth/token_url', message: refusal.message });
    }
    if (definition.send.path.startsWith('//')) problems.push({ path: '/send/path', message: 'must be a path on the endpoint, not //host' });
    return problems;
  }

  private async refusalOf(url: string, now: number = Date.now()): Promise<EgressRefusedError | undefined> {
    let key: string;
    try {
      const target = this.policy.target(url);
      key = `${target.url.protocol}//${target.host}:${target.port}`;
    } catch (error) {
      if (error instanceof EgressRefusedError) return error;
      throw error;
    }
    const cached = this.verdicts.get(key);
    if (cached !== undefined && cached.until > now) return cached.refusal;
    let refusal: EgressRefusedError | undefined;
    try {
      await this.policy.check(url, { unresolvable: 'accept' });
    } catch (error) {
      if (!(error instanceof EgressRefusedError)) throw error;
      refusal = error;
    }
    if (this.verdicts.size >= MAX_VERDICTS) this.verdicts.clear();
    this.verdicts.set(key, { refusal, until: now + VERDICT_TTL_MS });
    return refusal;
  }

  /** An SMTP endpoint (`smtp://host:port`, `smtps://host:port`): its host and port, checked like any other. */
  private async smtpRefusal(endpoint: string): Promise<EgressRefusedError | undefined> {
    if (!URL.canParse(endpoint)) return undefined; // the row's own checks say what is wrong with it
    const url = new URL(endpoint);
    const port = Number(url.port || (url.protocol === 'smtps:' ? 465 : 587));
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    try {
      await this.policy.checkHost(host, port, 'accept');
      return undefined;
    } catch (error) {
      if (error instanceof EgressRefusedError) return error;
      throw error;
    }
  }
}

/** A template rendered over the row's credentials, or undefined when it cannot be. */
function rendered(template: string, credentials: Readonly<Record<string, unknown>>): string | undefined {
  try {
    const value = renderTemplate(template, { credentials });
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

function leavesOrigin(endpoint: string, path: string): boolean {
  try {
    return new URL(path, endpoint).origin !== new URL(endpoint).origin;
  } catch {
    return false;
  }
}
