import { canonicalLocale, createAjv, toFieldProblems, ValidationError, type Channel, type FieldProblem } from '@commstrat/core';
import type { Liquid } from 'liquidjs';
import { SOURCE_LIMITS } from './limits.ts';
import { createEngine, liquidMessage } from './liquid-engine.ts';
import { templateSchema, VARIANT_FIELDS, type Template, type TemplateVariant } from './template-schema.ts';
import { compileVariablesSchema, undeclaredReason, type VariablesCheck } from './variables-schema.ts';

const validateDocument = createAjv({ useDefaults: false }).compile<Template>(templateSchema);

/** A template ready for intake: its document and its compiled variables check. */
export interface PreparedTemplate {
  readonly template: Template;
  readonly checkVariables: VariablesCheck;
}

/**
 * Checks a template document as a save does, without rendering: its shape, canonical
 * BCP 47 locales, a `default_locale` variant on every channel, the fields each channel
 * takes, a variables schema of the allowed subset, sample variables that match it, and
 * Liquid that parses (unknown tags and filters, unclosed blocks, missing partials) and
 * uses only declared variables. Throws ValidationError naming every problem by its path
 * in the document (e.g. `/channels/sms/ru/text`). Rendering (MJML, the sample render,
 * the limits) is the render worker's: TemplateRenderer.checkRenders.
 */
export function checkTemplate(input: unknown): PreparedTemplate {
  const size = JSON.stringify(input ?? null).length;
  if (size > SOURCE_LIMITS.document) {
    throw new ValidationError([{ path: '', message: `is ${size} characters as JSON; a template may have at most ${SOURCE_LIMITS.document}` }]);
  }
  if (!validateDocument(input)) throw new ValidationError(toFieldProblems(validateDocument.errors));
  const template = input;
  const problems: FieldProblem[] = [];
  if (canonicalLocale(template.default_locale) !== template.default_locale) {
    problems.push({ path: '/default_locale', message: localeMessage(template.default_locale) });
  }
  for (const [channel, variants] of channelEntries(template)) {
    for (const [locale, variant] of Object.entries(variants)) {
      const at = `/channels/${channel}/${locale}`;
      if (canonicalLocale(locale) !== locale) problems.push({ path: at, message: localeMessage(locale) });
      problems.push(...fieldRules(channel, variant, at));
    }
    if (!Object.hasOwn(variants, template.default_locale)) {
      problems.push({ path: `/channels/${channel}`, message: `has no variant for default_locale "${template.default_locale}"` });
    }
  }
  const compiled = compileVariablesSchema(template.variables);
  if ('problems' in compiled) problems.push(...compiled.problems);
  else if (template.sample_variables !== undefined) {
    problems.push(...compiled.check(template.sample_variables).map((p) => ({ ...p, path: `/sample_variables${p.path}` })));
  }
  // Against a schema that is itself wrong, what a field uses says nothing: only its syntax is checked.
  problems.push(...liquidProblems(template, !('problems' in compiled)));
  if (problems.length > 0 || 'problems' in compiled) throw new ValidationError(problems);
  return { template, checkVariables: compiled.check };
}

/** The template's channels with their variants by locale. */
export function channelEntries(template: Template): [Channel, Readonly<Record<string, TemplateVariant>>][] {
  return Object.entries(template.channels) as [Channel, Readonly<Record<string, TemplateVariant>>][];
}

function localeMessage(locale: string): string {
  const canonical = canonicalLocale(locale);
  return canonical === undefined
    ? `"${locale}" is not a BCP 47 language tag (e.g. "en", "ru", "ru-RU")`
    : `write the locale as "${canonical}", its canonical form`;
}

/** What each channel says: an e-mail a subject and a body, every other channel a text. */
function fieldRules(channel: Channel, variant: TemplateVariant, at: string): FieldProblem[] {
  const problems: FieldProblem[] = [];
  if (channel === 'email') {
    if (variant.subject === undefined) problems.push({ path: `${at}/subject`, message: 'is required for channel email' });
    if (variant.text === undefined && variant.html === undefined && variant.mjml === undefined) {
      problems.push({ path: `${at}/text`, message: 'text, html or mjml is required for channel email' });
    }
    if (variant.html !== undefined && variant.mjml !== undefined) {
      problems.push({ path: `${at}/mjml`, message: 'give html or mjml, not both: the MJML is compiled to the HTML' });
    }
    return problems;
  }
  if (variant.text === undefined) problems.push({ path: `${at}/text`, message: `is required for channel ${channel}` });
  for (const field of ['html', 'mjml'] as const) {
    if (variant[field] !== undefined) problems.push({ path: `${at}/${field}`, message: 'is for channel email only' });
  }
  if (variant.subject !== undefined && channel !== 'push') {
    problems.push({ path: `${at}/subject`, message: 'is for channels email and push (its title) only' });
  }
  return problems;
}

/**
 * Every Liquid source parsed (partials too), and every field's variables, partials
 * followed, checked against the variables schema.
 */
function liquidProblems(template: Template, checkUsage: boolean): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const engine = createEngine({ partials: template.partials });
  for (const [name, source] of Object.entries(template.partials ?? {})) {
    const problem = parseProblem(engine, source);
    if (problem !== undefined) problems.push({ path: `/partials/${name}`, message: problem });
  }
  for (const [channel, variants] of channelEntries(template)) {
    for (const [locale, variant] of Object.entries(variants)) {
      for (const field of VARIANT_FIELDS) {
        const source = variant[field];
        if (source === undefined) continue;
        const at = `/channels/${channel}/${locale}/${field}`;
        const problem = parseProblem(engine, source);
        if (problem !== undefined) {
          problems.push({ path: at, message: problem });
          continue;
        }
        if (checkUsage) problems.push(...variableProblems(engine, template, source, at));
      }
    }
  }
  return problems;
}

function parseProblem(engine: Liquid, source: string): string | undefined {
  try {
    engine.parse(source);
    return undefined;
  } catch (error) {
    return liquidMessage(error);
  }
}

function variableProblems(engine: Liquid, template: Template, source: string, at: string): FieldProblem[] {
  let used: unknown[][];
  try {
    used = engine.globalVariableSegmentsSync(source);
  } catch (error) {
    // A partial it includes is missing: the analysis follows includes.
    const partials = Object.keys(template.partials ?? {});
    return [{ path: at, message: `${liquidMessage(error)} (partials: ${partials.length === 0 ? 'none' : partials.join(', ')})` }];
  }
  const problems: FieldProblem[] = [];
  for (const segments of used) {
    const reason = undeclaredReason(template.variables, segments);
    if (reason === undefined) continue;
    const message = `uses {{ ${segments.map(String).join('.')} }}, which ${reason}`;
    if (!problems.some((p) => p.message === message)) problems.push({ path: at, message });
  }
  return problems;
}
