// Compiling and rendering one variant: what the render worker runs. Pure but for the
// clock, so it is tested in-process; only the worker puts a hard limit around it.
import type { Liquid, Template as LiquidTemplate } from 'liquidjs';
import { createEngine, liquidMessage } from './liquid-engine.ts';
import { OUTPUT_LIMITS, type RenderLimits } from './limits.ts';
import type { RenderedContent, RenderOutcome, VariantSource } from './render-protocol.ts';

type Field = keyof RenderedContent;

/** A variant parsed once: each field's Liquid, with the engine (text or HTML) it renders by. */
export interface CompiledVariant {
  readonly channel: VariantSource['channel'];
  readonly fields: readonly { readonly field: Field; readonly engine: Liquid; readonly parsed: LiquidTemplate[] }[];
}

/** Thrown when a variant cannot be compiled; `kind` says which stage. */
export class CompileFailure extends Error {
  readonly kind: 'mjml' | 'render';
  readonly field: string;

  constructor(kind: 'mjml' | 'render', field: string, message: string) {
    super(message);
    this.kind = kind;
    this.field = field;
  }
}

/** Turns MJML into HTML (the worker's MJML compiler); throws with the MJML's own errors. */
export type MjmlCompiler = (mjml: string) => string;

/** Compiles a variant: its MJML to HTML first (Liquid in MJML survives where MJML keeps text), then every field as Liquid. */
export function compileVariant(source: VariantSource, limits: RenderLimits, mjml?: MjmlCompiler): CompiledVariant {
  const text = createEngine({ partials: source.partials, locale: source.locale, limits });
  let html = source.html;
  if (source.mjml !== undefined) {
    if (mjml === undefined) throw new CompileFailure('mjml', 'mjml', 'MJML cannot be compiled here');
    try {
      html = mjml(source.mjml);
    } catch (error) {
      throw new CompileFailure('mjml', 'mjml', error instanceof Error ? error.message : String(error));
    }
  }
  const fields: CompiledVariant['fields'][number][] = [];
  const add = (field: Field, body: string | undefined, engine: Liquid) => {
    if (body === undefined) return;
    try {
      fields.push({ field, engine, parsed: engine.parse(body) });
    } catch (error) {
      throw new CompileFailure('render', field === 'html' && source.mjml !== undefined ? 'mjml' : field, liquidMessage(error));
    }
  };
  add('subject', source.subject, text);
  add('text', source.text, text);
  add('html', html, createEngine({ partials: source.partials, locale: source.locale, limits, html: true }));
  return { channel: source.channel, fields };
}

/**
 * Renders a compiled variant with `variables`, all its fields within `deadline`
 * (performance.now() ms) and LiquidJS's memory limit. Subject and text are trimmed (a
 * YAML block ends in a newline an SMS would bill); a field that renders empty is left
 * out, and a variant left without what its channel needs is refused, as is output over
 * what a message may hold (OUTPUT_LIMITS).
 */
export function renderVariant(compiled: CompiledVariant, variables: unknown, deadline: number, limits: RenderLimits): RenderOutcome {
  const content: Record<string, string> = {};
  for (const { field, engine, parsed } of compiled.fields) {
    const remaining = Math.floor(deadline - performance.now());
    if (remaining <= 0) return failure(field, `renders for longer than the ${limits.renderMs} ms a message's templates may take`);
    let output: string;
    try {
      output = String(engine.renderSync(parsed, variables as object, { renderLimit: remaining, memoryLimit: limits.memoryBytes }));
    } catch (error) {
      return failure(field, liquidMessage(error));
    }
    if (field !== 'html') output = output.trim();
    if (output.length > OUTPUT_LIMITS[field]) {
      return failure(field, `renders ${output.length} characters; a message's ${field} may have at most ${OUTPUT_LIMITS[field]}`);
    }
    if (output !== '') content[field] = output;
  }
  const missing = compiled.channel === 'email'
    ? content['subject'] === undefined ? 'subject' : content['text'] === undefined && content['html'] === undefined ? 'text' : undefined
    : content['text'] === undefined ? 'text' : undefined;
  if (missing !== undefined) return failure(missing, `renders an empty ${missing} with these variables`);
  return { ok: true, content };
}

function failure(field: string, message: string): RenderOutcome {
  return { ok: false, kind: 'render', field, message };
}
