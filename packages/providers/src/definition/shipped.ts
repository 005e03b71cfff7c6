import { readFileSync, readdirSync } from 'node:fs';
import { parseProviderDefinition, type ProviderDefinition } from './definition-schema.ts';

const DIRECTORY = new URL('../../definitions/', import.meta.url);

let shipped: ReadonlyMap<string, ProviderDefinition> | undefined;

/**
 * The definitions that ship in packages/providers/definitions, by name. Read and checked
 * once, on first use: a broken shipped file fails the first lookup loudly (and the unit
 * test that loads them all), not one send.
 */
export function shippedDefinitions(): ReadonlyMap<string, ProviderDefinition> {
  if (shipped === undefined) {
    const found = new Map<string, ProviderDefinition>();
    for (const file of readdirSync(DIRECTORY).filter((name) => /\.(ya?ml|json)$/.test(name))) {
      const definition = parseProviderDefinition(readFileSync(new URL(file, DIRECTORY), 'utf8'));
      found.set(definition.name, definition);
    }
    shipped = found;
  }
  return shipped;
}
