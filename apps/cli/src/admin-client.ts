// The admin commands' one way to ingest: its /v1/admin HTTP API, with errors that say
// what to do next (which key, which URL, which fields).
import { CommstratError, ERROR_CODES, type ErrorCode, type FieldProblem, type JsonChange } from '@commstrat/core';
import type { AdminTarget } from './config.ts';

/** A strategy version as the admin API shows it (apps/ingest/src/admin-routes.ts). */
export interface StrategyView {
  readonly name: string;
  readonly version: number;
  readonly channel: string;
  readonly default_for_channel: boolean;
  readonly created_at: string;
  readonly definition: Record<string, unknown>;
}

/** A template version as the admin API shows it (apps/ingest/src/admin-template-routes.ts). */
export interface TemplateView {
  readonly name: string;
  readonly version: number;
  readonly created_by: string;
  readonly created_at: string;
  readonly definition: Record<string, unknown>;
}

/** What a template preview answers: each channel's render, for SMS its encoding and parts. */
export interface TemplatePreviewView {
  readonly template: string;
  readonly version?: number;
  readonly renders: readonly {
    readonly channel: string;
    readonly locale: string;
    readonly subject?: string;
    readonly text?: string;
    readonly html?: string;
    readonly sms?: { readonly encoding: string; readonly parts: number; readonly units: number; readonly characters: number };
  }[];
}

/** What a preview asks for: variables (default: the template's samples), a locale, one channel. */
export interface PreviewRequest {
  readonly variables?: Record<string, unknown>;
  readonly locale?: string;
  readonly channel?: string;
  readonly version?: number;
}

/** An API key as the admin API lists it; `key` (the secret) only in the answer to its creation. */
export interface ApiKeyView {
  readonly id: string;
  readonly label: string;
  readonly scopes: readonly string[];
  readonly created_at: string;
  readonly key?: string;
  readonly [field: string]: unknown;
}

/** A provider configuration as the admin API shows it; its fields belong to the config store. */
export type ProviderView = Readonly<Record<string, unknown>>;

/** The answer of POST /v1/admin/providers/validate. */
export interface ProviderCheck {
  readonly valid: true;
  readonly created: boolean;
  readonly changed: boolean;
  readonly provider: ProviderView;
  /** With an inline definition: the version it is (or would be saved as). */
  readonly definition?: { readonly name: string; readonly version: number; readonly new_version: boolean };
}

/** Thrown when ingest cannot be reached at all: refused, unknown host, no answer in time. */
export class IngestUnreachableError extends CommstratError {
  constructor(url: string, cause: unknown) {
    super(
      'dependency_unavailable',
      `cannot reach ingest at ${url} (${reasonOf(cause)}): is ingest running there? Point --ingest-url or COMMSTRAT_INGEST_URL at it`,
      { cause },
    );
  }
}

/** Thrown when the admin API answers with an error: its code, HTTP status and field problems. */
export class AdminApiError extends CommstratError {
  readonly status: number;

  constructor(status: number, code: ErrorCode, message: string, problems: readonly FieldProblem[]) {
    super(code, message, { problems });
    this.status = status;
  }
}

/** How long one call may take before the CLI gives up on ingest, ms. */
const CALL_TIMEOUT_MS = 30_000;

export class AdminClient {
  readonly url: string;
  readonly #key: string;

  constructor(target: AdminTarget) {
    this.url = target.url;
    this.#key = target.key;
  }

  validateStrategy(definition: unknown, subject: string): Promise<{ valid: true; strategy: Record<string, unknown> }> {
    return this.call('POST', '/v1/admin/strategies/validate', { body: definition, subject });
  }

  /** The newest version, or the given one; null when there is none. */
  findStrategy(name: string, version?: number): Promise<StrategyView | null> {
    const query = version === undefined ? '' : `?version=${version}`;
    return this.findOrNull(`/v1/admin/strategies/${encodeURIComponent(name)}${query}`);
  }

  async listStrategies(): Promise<StrategyView[]> {
    return (await this.call<{ strategies: StrategyView[] }>('GET', '/v1/admin/strategies')).strategies;
  }

  saveStrategy(definition: unknown, options: { defaultForChannel: boolean; subject: string }): Promise<StrategyView> {
    const query = options.defaultForChannel ? '?default_for_channel=true' : '';
    return this.call('POST', `/v1/admin/strategies${query}`, { body: definition, subject: options.subject });
  }

  async diffStrategy(name: string, from: number, to: number): Promise<JsonChange[]> {
    const path = `/v1/admin/strategies/${encodeURIComponent(name)}/diff?from=${from}&to=${to}`;
    return (await this.call<{ changes: JsonChange[] }>('GET', path)).changes;
  }

  rollbackStrategy(name: string, toVersion: number): Promise<StrategyView> {
    return this.call('POST', `/v1/admin/strategies/${encodeURIComponent(name)}/rollback`, { body: { to_version: toVersion } });
  }

  validateTemplate(template: unknown, subject: string): Promise<{ valid: true; template: Record<string, unknown> }> {
    return this.call('POST', '/v1/admin/templates/validate', { body: template, subject });
  }

  /** The newest version, or the given one; null when there is none. */
  findTemplate(name: string, version?: number): Promise<TemplateView | null> {
    const query = version === undefined ? '' : `?version=${version}`;
    return this.findOrNull(`/v1/admin/templates/${encodeURIComponent(name)}${query}`);
  }

  async listTemplates(): Promise<TemplateView[]> {
    return (await this.call<{ templates: TemplateView[] }>('GET', '/v1/admin/templates')).templates;
  }

  saveTemplate(name: string, template: unknown, subject: string): Promise<TemplateView> {
    return this.call('PUT', `/v1/admin/templates/${encodeURIComponent(name)}`, { body: template, subject });
  }

  async diffTemplate(name: string, from: number, to: number): Promise<JsonChange[]> {
    const path = `/v1/admin/templates/${encodeURIComponent(name)}/diff?from=${from}&to=${to}`;
    return (await this.call<{ changes: JsonChange[] }>('GET', path)).changes;
  }

  /** Renders a stored template (`name`) or one not saved (`template`, from a file). */
  previewTemplate(target: { name: string } | { template: unknown }, request: PreviewRequest, subject: string): Promise<TemplatePreviewView> {
    return 'name' in target
      ? this.call('POST', `/v1/admin/templates/${encodeURIComponent(target.name)}/preview`, { body: request, subject })
      : this.call('POST', '/v1/admin/templates/preview', { body: { ...request, template: target.template }, subject });
  }

  createKey(label: string, scopes: readonly string[]): Promise<ApiKeyView & { key: string }> {
    return this.call('POST', '/v1/admin/keys', { body: { label, scopes }, subject: 'the key' });
  }

  async listKeys(): Promise<ApiKeyView[]> {
    return (await this.call<{ keys: ApiKeyView[] }>('GET', '/v1/admin/keys')).keys;
  }

  async revokeKey(id: string): Promise<void> {
    await this.call('DELETE', `/v1/admin/keys/${encodeURIComponent(id)}`);
  }

  async listProviders(): Promise<ProviderView[]> {
    return (await this.call<{ providers: ProviderView[] }>('GET', '/v1/admin/providers')).providers;
  }

  findProvider(id: string): Promise<ProviderView | null> {
    return this.findOrNull(`/v1/admin/providers/${encodeURIComponent(id)}`);
  }

  /** What a PUT of `change` would do, saving nothing; `provider` is the result, credentials masked. */
  validateProvider(change: unknown, subject: string): Promise<ProviderCheck> {
    return this.call('POST', '/v1/admin/providers/validate', { body: change, subject });
  }

  putProvider(id: string, change: unknown, subject: string): Promise<ProviderView> {
    return this.call('PUT', `/v1/admin/providers/${encodeURIComponent(id)}`, { body: change, subject });
  }

  /**
   * Sends one request; answers the parsed body (undefined when empty), or throws
   * IngestUnreachableError / AdminApiError. `subject` names the input in a 4xx message.
   */
  async call<T>(method: string, path: string, options: { body?: unknown; subject?: string } = {}): Promise<T> {
    let response: Response;
    let text: string;
    try {
      response = await fetch(`${this.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.#key}`,
          accept: 'application/json',
          ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
        signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
      });
      text = await response.text();
    } catch (error) {
      throw new IngestUnreachableError(this.url, error);
    }
    const body = parseBody(text);
    if (response.ok) return body as T;
    throw errorOf(response.status, body, `${method} ${path}`, options.subject);
  }

  async findOrNull<T>(path: string): Promise<T | null> {
    try {
      return await this.call<T>('GET', path);
    } catch (error) {
      if (error instanceof AdminApiError && error.status === 404 && error.code === 'not_found') return null;
      throw error;
    }
  }
}

function parseBody(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** The API's `{error: {code, message, problems}}` as an AdminApiError whose message says what to do. */
export function errorOf(status: number, body: unknown, request: string, subject = 'the input'): AdminApiError {
  const error = typeof body === 'object' && body !== null && 'error' in body ? (body as { error: Record<string, unknown> }).error : {};
  const code: ErrorCode = typeof error['code'] === 'string' && error['code'] in ERROR_CODES ? (error['code'] as ErrorCode) : codeOfStatus(status);
  const said = typeof error['message'] === 'string' ? error['message'] : typeof body === 'string' && body !== '' ? body.slice(0, 200) : `HTTP ${status}`;
  const problems = Array.isArray(error['problems']) ? (error['problems'] as FieldProblem[]) : [];
  return new AdminApiError(status, code, `${adviceFor(status, said, subject, problems.length)} (${request} answered ${status})`, problems);
}

function adviceFor(status: number, said: string, subject: string, problemCount: number): string {
  if (status === 401) return `ingest does not accept the admin key (${said}): check COMMSTRAT_ADMIN_KEY or --admin-key; a revoked key stops working at once`;
  if (status === 403) return `${said}: set COMMSTRAT_ADMIN_KEY to a key with the admin scope`;
  if (problemCount > 0) return `${subject} is invalid, fix ${problemCount === 1 ? 'this field' : `these ${problemCount} fields`}`;
  if (status >= 500) return `ingest failed: ${said}; try again, and if it persists look at ingest's /health/ready and its log`;
  return said;
}

function codeOfStatus(status: number): ErrorCode {
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not_found';
  if (status === 400 || status === 422) return 'validation_failed';
  return status >= 500 ? 'dependency_unavailable' : 'bad_request';
}

function reasonOf(error: unknown): string {
  if (error instanceof Error && error.name === 'TimeoutError') return `no answer within ${CALL_TIMEOUT_MS / 1000}s`;
  const cause = error instanceof Error ? error.cause : undefined;
  // fetch says only "fetch failed"; its cause says why (ECONNREFUSED, ENOTFOUND, bad port).
  if (typeof cause === 'object' && cause !== null && 'code' in cause && typeof cause.code === 'string') return cause.code;
  if (cause instanceof Error) return cause.message;
  return error instanceof Error ? error.message : String(error);
}
