/**
 * The canonical form of a BCP 47 language tag (`ru-ru` is `ru-RU`, `zh-hant-tw` is
 * `zh-Hant-TW`), by the platform's Intl (ECMA-402); undefined when it is not one.
 */
export function canonicalLocale(tag: string): string | undefined {
  try {
    return Intl.getCanonicalLocales(tag)[0];
  } catch {
    return undefined;
  }
}
