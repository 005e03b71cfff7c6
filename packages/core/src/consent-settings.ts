// A tenant's consent settings as plain data: the categories no opt-out holds back (one-time
// passwords), and the keywords of inbound messages (STOP, START, HELP) per language, with
// the replies sent back for them. Stored in PostgreSQL `tenants.consent` (migration 014),
// set by PUT /v1/admin/consent; what is not set takes the defaults below.
import { createAjv, toFieldProblems } from './ajv.ts';
import { ValidationError, type FieldProblem } from './errors.ts';
import { CATEGORY_PATTERN } from './message-schema.ts';

/** What an inbound keyword does: opt the sender out, back in, or ask for help. */
export type KeywordAction = 'stop' | 'start' | 'help';

export const KEYWORD_ACTIONS: readonly KeywordAction[] = ['stop', 'start', 'help'];

/** The keywords of one language, and what is sent back for each (absent: nothing). */
export interface KeywordLanguage {
  readonly stop: readonly string[];
  readonly start: readonly string[];
  readonly help: readonly string[];
  readonly replies?: { readonly stop?: string; readonly start?: string; readonly help?: string };
}

export interface ConsentSettings {
  /** Categories no opt-out holds back (e.g. `otp`): a STOP does not stop them. */
  readonly exempt_categories: readonly string[];
  /** Keywords by language (`en`, `ru`, `pt-BR`); the first language that has a keyword wins. */
  readonly keywords: Readonly<Record<string, KeywordLanguage>>;
}

/**
 * English as US carriers (CTIA) and Twilio's Advanced Opt-Out read it, and Russian. No
 * replies by default: Twilio and most aggregators answer STOP and HELP themselves, and a
 * second answer from us would be one text too many; a tenant whose provider does not sets
 * its replies.
 */
export const DEFAULT_KEYWORDS: Readonly<Record<string, KeywordLanguage>> = Object.freeze({
  en: {
    stop: ['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'OPTOUT', 'REVOKE'],
    start: ['START', 'UNSTOP', 'YES'],
    help: ['HELP', 'INFO'],
  },
  ru: {
    stop: ['СТОП', 'ОТПИСАТЬСЯ', 'ОТПИСКА', 'ОТМЕНА'],
    start: ['СТАРТ', 'ПОДПИСАТЬСЯ'],
    help: ['ПОМОЩЬ', 'СПРАВКА'],
  },
});

export const DEFAULT_CONSENT_SETTINGS: ConsentSettings = Object.freeze({ exempt_categories: [], keywords: DEFAULT_KEYWORDS });

const keywordList = { type: 'array', maxItems: 30, uniqueItems: true, items: { type: 'string', minLength: 1, maxLength: 40 } } as const;
const reply = { type: 'string', minLength: 1, maxLength: 1600 } as const;

/** The JSON Schema of PUT /v1/admin/consent; a field left out takes its default. */
export const consentSettingsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    exempt_categories: { type: 'array', maxItems: 50, uniqueItems: true, items: { type: 'string', pattern: CATEGORY_PATTERN } },
    keywords: {
      type: 'object',
      maxProperties: 20,
      propertyNames: { pattern: '^[a-z]{2,3}(-[A-Z]{2})?$' },
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        required: ['stop', 'start', 'help'],
        properties: {
          stop: keywordList,
          start: keywordList,
          help: keywordList,
          replies: { type: 'object', additionalProperties: false, properties: { stop: reply, start: reply, help: reply } },
        },
      },
    },
  },
} as const;

const validateSchema = createAjv({ useDefaults: false }).compile<Partial<ConsentSettings>>(consentSettingsSchema);

/**
 * A tenant's settings as stored (what it set) with the defaults for what it did not:
 * what applies. Stored settings are checked when they are set, so they are read as they are.
 */
export function effectiveConsent(stored: Partial<ConsentSettings> | null | undefined): ConsentSettings {
  return {
    exempt_categories: stored?.exempt_categories ?? DEFAULT_CONSENT_SETTINGS.exempt_categories,
    keywords: stored?.keywords ?? DEFAULT_CONSENT_SETTINGS.keywords,
  };
}

/**
 * Checks settings as PUT /v1/admin/consent takes them; returns what is to be stored.
 * Refuses (naming the field) a keyword that is no word once normalised, and one keyword
 * meaning two actions in any of the languages. Throws ValidationError.
 */
export function parseConsentSettings(input: unknown): Partial<ConsentSettings> {
  if (!validateSchema(input)) throw new ValidationError(toFieldProblems(validateSchema.errors));
  const problems: FieldProblem[] = [];
  const actionOf = new Map<string, { action: KeywordAction; at: string }>();
  for (const [language, set] of Object.entries(input.keywords ?? {})) {
    for (const action of KEYWORD_ACTIONS) {
      set[action].forEach((keyword, i) => {
        const at = `/keywords/${language}/${action}/${i}`;
        const normal = normalizeKeyword(keyword);
        if (normal === '') {
          problems.push({ path: at, message: 'has no letter or digit' });
          return;
        }
        const seen = actionOf.get(normal);
        if (seen !== undefined && seen.action !== action) problems.push({ path: at, message: `is already a ${seen.action} keyword at ${seen.at}` });
        else if (seen === undefined) actionOf.set(normal, { action, at });
      });
    }
  }
  if (problems.length > 0) throw new ValidationError(problems);
  return input;
}

/**
 * An inbound text as keywords are compared: Unicode-normalised (NFKC), upper case, Ё as
 * Е, without the spaces, punctuation and symbols around it, inner spaces as one. `Stop.`,
 * ` stop ` and `STOP!` are all `STOP`; `stop it` is `STOP IT`, no keyword.
 */
export function normalizeKeyword(text: string): string {
  return text
    .normalize('NFKC')
    .toUpperCase()
    .replaceAll('Ё', 'Е')
    .replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, '')
    .replace(/\s+/gu, ' ');
}

/** Which keyword an inbound text is, in which language. */
export interface KeywordMatch {
  readonly action: KeywordAction;
  readonly language: string;
  /** The keyword as configured. */
  readonly keyword: string;
  /** What to send back, when the language has a reply for the action. */
  readonly reply?: string;
}

/**
 * The keyword an inbound text is, or undefined: the whole text must be the keyword (as
 * carriers read STOP: a sentence that contains it is a message, not an opt-out). The
 * first language in the settings' order that has it decides the language of the reply.
 */
export function matchKeyword(text: string, keywords: ConsentSettings['keywords']): KeywordMatch | undefined {
  const normal = normalizeKeyword(text);
  if (normal === '' || normal.length > 60) return undefined;
  for (const [language, set] of Object.entries(keywords)) {
    for (const action of KEYWORD_ACTIONS) {
      const keyword = set[action].find((candidate) => normalizeKeyword(candidate) === normal);
      if (keyword === undefined) continue;
      const reply = set.replies?.[action];
      return { action, language, keyword, ...(reply === undefined ? {} : { reply }) };
    }
  }
  return undefined;
}
