// Locales as BCP 47 language tags, canonical by core's canonicalLocale (`ru-RU`, not `ru-ru`).
/**
 * The locales tried for `requested`, most specific first: `ru-RU` then `ru`,
 * `zh-Hant-TW` then `zh-Hant` then `zh`. Subtags are dropped from the end; a chain
 * element that would end in an extension's one-letter singleton (`de-u`) is skipped.
 */
export function localeChain(requested: string): string[] {
  const subtags = requested.split('-');
  const chain: string[] = [];
  for (let length = subtags.length; length > 0; length--) {
    if ((subtags[length - 1] ?? '').length === 1) continue;
    chain.push(subtags.slice(0, length).join('-'));
  }
  return chain;
}

/**
 * The variant a message in `requested` gets (canonical, or absent: the tenant has no
 * default either): the first of its chain the template has, else the template's
 * default. Returns the locale actually used, which the journal records.
 */
export function pickLocale(
  available: Readonly<Record<string, unknown>>,
  requested: string | undefined,
  defaultLocale: string,
): string {
  for (const locale of requested === undefined ? [] : localeChain(requested)) {
    if (Object.hasOwn(available, locale)) return locale;
  }
  return defaultLocale;
}
