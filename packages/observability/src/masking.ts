/**
 * Masks personal data and secrets in log records before any transport sees them.
 * Values are found two ways: by the name of the field that holds them (`phone`, `email`,
 * `text`, `authorization`, ...) at any depth, and by their shape inside free text (an
 * E.164 number, an e-mail address, a bearer token, an API key). A string that holds JSON
 * (a provider request body) is parsed and masked field by field, then written back.
 */

/** `partial` keeps a recognisable edge (`+7916*****67`), `full` hides all, `off` logs in clear. */
export type MaskMode = 'partial' | 'full' | 'off';

export interface MaskingOptions {
  /** Phone numbers. Default `partial`. */
  readonly phone?: MaskMode;
  /** E-mail addresses. Default `partial`. */
  readonly email?: MaskMode;
  /** Message text, subject and template variables. Default `partial` (only the length shows). */
  readonly text?: MaskMode;
  /** API keys, provider credentials, Authorization headers, passwords. Never logged in clear. Default `full`. */
  readonly credentials?: Exclude<MaskMode, 'off'>;
  /** More field names (case-insensitive) whose values are always hidden in full. */
  readonly fields?: readonly string[];
}

type Kind = 'phone' | 'email' | 'text' | 'credentials' | 'extra';

// Field names compared lowercased with `-` and `_` removed, so `api_key`, `apiKey` and
// `X-Api-Key` are one name.
const FIELD_KINDS: Readonly<Record<string, Kind>> = {
  phone: 'phone',
  to: 'phone',
  msisdn: 'phone',
  phonenumber: 'phone',
  email: 'email',
  emailaddress: 'email',
  replyto: 'email',
  text: 'text',
  subject: 'text',
  html: 'text',
  variables: 'text',
  authorization: 'credentials',
  proxyauthorization: 'credentials',
  cookie: 'credentials',
  apikey: 'credentials',
  xapikey: 'credentials',
  token: 'credentials',
  accesstoken: 'credentials',
  refreshtoken: 'credentials',
  pushtoken: 'credentials',
  password: 'credentials',
  secret: 'credentials',
  credentials: 'credentials',
};

// Winston's own fields: never personal data, and the transports read them as they are.
const PASSED_THROUGH = new Set(['level', 'timestamp', 'service']);

const PHONE_IN_TEXT = /\+\d[\d ()-]{6,18}\d/g;
const EMAIL_IN_TEXT = /[\w.%+-]+@[\w-]+(?:\.[\w-]+)+/g;
const BEARER_IN_TEXT = /\b(Bearer|Basic)\s+[\w.~+/=-]+/gi;
// Our tenant API keys (`cs_` and 32 base64url characters).
const API_KEY_IN_TEXT = /\bcs_[\w-]{20,}/g;

const MAX_DEPTH = 10;
const STARS = '*****';

/**
 * Returns a masked copy of a log value (the input is never changed); `field` is the name
 * the value is logged under, which decides how a plain value is masked.
 */
export type Masker = (value: unknown, field?: string) => unknown;

export function createMasker(options: MaskingOptions = {}): Masker {
  const modes: Record<Kind, MaskMode> = {
    phone: options.phone ?? 'partial',
    email: options.email ?? 'partial',
    text: options.text ?? 'partial',
    credentials: options.credentials ?? 'full',
    extra: 'full',
  };
  const extra = new Set((options.fields ?? []).map(normalize));
  const kindOf = (key: string): Kind | undefined => {
    const name = normalize(key);
    return extra.has(name) ? 'extra' : FIELD_KINDS[name];
  };

  const maskFreeText = (text: string): string => {
    let out = text.replace(BEARER_IN_TEXT, (_all, scheme: string) => `${scheme} ${STARS}`);
    out = out.replace(API_KEY_IN_TEXT, (key) => maskValue('credentials', modes.credentials, key));
    if (modes.email !== 'off')
      out = out.replace(EMAIL_IN_TEXT, (found) => maskValue('email', modes.email, found));
    if (modes.phone !== 'off')
      out = out.replace(PHONE_IN_TEXT, (found) => maskValue('phone', modes.phone, found));
    return out;
  };

  const walk = (
    value: unknown,
    kind: Kind | undefined,
    depth: number,
    seen: WeakSet<object>,
  ): unknown => {
    if (value === null || value === undefined || typeof value === 'boolean') return value;
    if (
      kind !== undefined &&
      modes[kind] !== 'off' &&
      (typeof value === 'string' || typeof value === 'number' || typeof value === 'bigint')
    ) {
      return maskValue(kind, modes[kind], String(value));
    }
    if (typeof value === 'string') return maskString(value, depth, seen);
    if (typeof value !== 'object') return value;
    if (seen.has(value) || depth >= MAX_DEPTH) return '[not logged: nested too deep]';
    seen.add(value);
    try {
      if (Array.isArray(value)) return value.map((item) => walk(item, kind, depth + 1, seen));
      if (value instanceof Error) {
        return {
          name: value.name,
          message: maskFreeText(value.message),
          stack: maskFreeText(value.stack ?? ''),
        };
      }
      if (value instanceof Date) return value;
      // `text` or `variables` holding an object: every value inside is text.
      const inherited = kind !== undefined && modes[kind] !== 'off' ? kind : undefined;
      const copy: Record<string, unknown> = {};
      for (const [key, inner] of Object.entries(value)) {
        copy[key] = walk(inner, kindOf(key) ?? inherited, depth + 1, seen);
      }
      return copy;
    } finally {
      seen.delete(value);
    }
  };

  const maskString = (value: string, depth: number, seen: WeakSet<object>): string => {
    const trimmed = value.trimStart();
    if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(value);
      } catch {
        parsed = undefined; // not JSON after all: masked as free text below
      }
      if (parsed !== undefined) return JSON.stringify(walk(parsed, undefined, depth + 1, seen));
    }
    return maskFreeText(value);
  };

  return (value, field) =>
    walk(value, field === undefined ? undefined : kindOf(field), 0, new WeakSet());
}

/** Masks the fields of a winston record in place (the record is winston's own copy). */
export function maskRecord(mask: Masker, info: Record<string, unknown>): void {
  for (const key of Object.keys(info)) {
    if (PASSED_THROUGH.has(key)) continue;
    // The line's message is free text whatever its field is called.
    info[key] = mask(info[key], key === 'message' ? undefined : key);
  }
}

function normalize(key: string): string {
  return key.toLowerCase().replace(/[-_]/g, '');
}

function maskValue(kind: Kind, mode: MaskMode, value: string): string {
  if (mode === 'off') return value;
  if (mode === 'full') return kind === 'text' ? '[masked]' : STARS;
  switch (kind) {
    case 'phone': {
      // Country and operator code and the last two digits: enough to tell numbers apart.
      const digits = value.replace(/[^\d+]/g, '');
      const head = digits.startsWith('+') ? 5 : 4;
      if (digits.length < head + 4) return STARS;
      return `${digits.slice(0, head)}${'*'.repeat(digits.length - head - 2)}${digits.slice(-2)}`;
    }
    case 'email': {
      const at = value.lastIndexOf('@');
      if (at < 1) return STARS;
      return `${value[0]}${STARS}${value.slice(at)}`;
    }
    case 'text':
      return `[masked, ${value.length} chars]`;
    case 'credentials':
      // A key's first characters tell which key it was; they do not open anything.
      return value.length <= 8 ? STARS : `${value.slice(0, 4)}${STARS}`;
    case 'extra':
      return STARS;
  }
}
