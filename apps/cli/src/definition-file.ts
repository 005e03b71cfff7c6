import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { ValidationError } from '@commstrat/core';
import { parseDocument } from 'yaml';

/**
 * A strategy or provider definition from a file: `.json` is JSON, anything else YAML
 * (a JSON document is YAML too). A file that cannot be read or parsed is a
 * ValidationError whose path is the file, with the line and column of the first fault.
 */
export async function readDefinitionFile(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : String(error);
    throw new ValidationError([{ path: file, message: `cannot be read (${code})` }]);
  }
  return parseDefinition(file, text);
}

export function parseDefinition(file: string, text: string): Record<string, unknown> {
  const value = extname(file).toLowerCase() === '.json' ? parseJson(file, text) : parseYaml(file, text);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ValidationError([{ path: file, message: 'must hold one object (a mapping of fields), not a list or a single value' }]);
  }
  return value as Record<string, unknown>;
}

function parseJson(file: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ValidationError([{ path: file, message: `is not valid JSON: ${error instanceof Error ? error.message : String(error)}` }]);
  }
}

function parseYaml(file: string, text: string): unknown {
  // One document, no custom tags: what the API takes is plain JSON.
  const document = parseDocument(text, { uniqueKeys: true });
  const [first] = document.errors;
  if (first !== undefined) {
    // Pretty messages end with the position and a code excerpt: keep the first line, which says both.
    const said = (first.message.split('\n')[0] ?? '').replace(/:$/, '');
    throw new ValidationError([{ path: file, message: `is not valid YAML: ${said}` }]);
  }
  return document.toJS() as unknown;
}
