// The console's JSON API (/console/api on the ingest that serves this page). The session
// cookie goes by itself (same origin, HttpOnly); changing requests carry the session's
// CSRF token in x-csrf-token, which the login and /session answers hand over.

export interface FieldProblem {
  readonly path: string;
  readonly message: string;
}

/** An error answer of the API: its registry code, message and the fields it names. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly problems: readonly FieldProblem[];

  constructor(status: number, code: string, message: string, problems: readonly FieldProblem[] = []) {
    super(message);
    this.status = status;
    this.code = code;
    this.problems = problems;
  }
}

export type Query = Readonly<Record<string, string | number | boolean | undefined | null>>;

const BASE = '/console/api';
let csrfToken: string | undefined;
let onSessionEnded: () => void = () => {};

export function setCsrfToken(token: string | undefined): void {
  csrfToken = token;
}

/** Called when an answer says the session ended (401), so the page can ask to log in again. */
export function whenSessionEnds(callback: () => void): void {
  onSessionEnded = callback;
}

export function queryString(query: Query): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(name, String(value));
  }
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}

async function request<T>(method: string, path: string, query: Query, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken !== undefined) headers['x-csrf-token'] = csrfToken;
  const response = await fetch(`${BASE}${path}${queryString(query)}`, {
    method,
    headers,
    credentials: 'same-origin',
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!response.ok) {
    const error = (parsed as { error?: { code?: string; message?: string; problems?: FieldProblem[] } } | undefined)?.error;
    if (response.status === 401 && path !== '/login') onSessionEnded();
    throw new ApiError(response.status, error?.code ?? 'http_error', error?.message ?? `${response.status} ${response.statusText}`, error?.problems ?? []);
  }
  return parsed as T;
}

export const api = {
  get: <T>(path: string, query: Query = {}) => request<T>('GET', path, query),
  post: <T>(path: string, body: unknown, query: Query = {}) => request<T>('POST', path, query, body),
};

/** What the page knows of whoever is logged in. */
export interface Session {
  readonly tenant: { readonly id: string; readonly name: string };
  readonly key_id: string | null;
  readonly scopes: readonly string[];
  readonly role: 'operator' | 'admin';
  readonly pii: boolean;
  readonly csrf_token: string;
}
