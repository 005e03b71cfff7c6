import { Liquid } from 'liquidjs';
import { DEFAULT_RENDER_LIMITS, type RenderLimits } from './limits.ts';

export interface EngineOptions {
  /** The template's partials: the only "files" `render` / `include` / `layout` reach. */
  readonly partials?: Readonly<Record<string, string>> | undefined;
  /** HTML: every output is HTML-escaped unless it says `| raw`. */
  readonly html?: boolean;
  /** The variant's locale, for the `date` filter's names of days and months. */
  readonly locale?: string | undefined;
  readonly limits?: RenderLimits;
}

/**
 * A Liquid engine safe for templates a tenant writes: Liquid runs no code of ours or
 * theirs; no file system (partials come from the template itself, by the in-memory
 * `templates` mapping); only a value's own properties are visible (`{{ x.constructor }}`
 * is empty); an unknown filter is a parse error; dates in UTC unless a filter names a
 * zone; bounded by `limits`. A variable the message leaves out renders empty (the
 * variables schema says which are required; a save refuses undeclared ones).
 */
export function createEngine(options: EngineOptions = {}): Liquid {
  const limits = options.limits ?? DEFAULT_RENDER_LIMITS;
  return new Liquid({
    templates: { ...options.partials },
    relativeReference: false,
    strictFilters: true,
    strictVariables: false,
    ownPropertyOnly: true,
    timezoneOffset: 0,
    ...(options.locale === undefined ? {} : { locale: options.locale }),
    ...(options.html === true ? { outputEscape: 'escape' as const } : {}),
    parseLimit: limits.parseChars,
    renderLimit: limits.renderMs,
    memoryLimit: limits.memoryBytes,
  });
}

/** A LiquidJS error's first line, without the file-system wording of a failed partial lookup. */
export function liquidMessage(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const first = text.split('\n')[0] ?? text;
  return first.replace(/^ENOENT: Failed to lookup "(.*)" in "\."/, 'no partial named "$1"');
}
