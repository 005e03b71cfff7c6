// What the admin API renders outside intake: a save's check (every variant compiles,
// MJML included, and renders its sample variables within the limits) and the preview.
import { createHash } from 'node:crypto';
import { CommstratError, ValidationError, canonicalLocale, smsEncoding, type Channel, type FieldProblem, type SmsEncodingInfo } from '@commstrat/core';
import { channelEntries, pickLocale, type PreparedTemplate, type RenderedContent, type RenderItem, type TemplateRenderer, type TemplateVariant } from '@commstrat/templates';

/** One channel of a preview: the variant used and what it rendered; for SMS, how it goes over the air. */
export interface PreviewRender {
  readonly channel: Channel;
  readonly locale: string;
  readonly content: RenderedContent;
  readonly sms?: SmsEncodingInfo & { readonly characters: number };
}

/**
 * Compiles every variant of a template in the render worker (MJML to HTML, each field's
 * Liquid) and, when it has `sample_variables`, renders each with them within the
 * limits intake applies: what a static check cannot see. Throws ValidationError naming
 * each variant field that fails (`/channels/email/en/mjml`).
 */
export async function checkRenders(renderer: Pick<TemplateRenderer, 'render'>, prepared: PreparedTemplate): Promise<void> {
  const { template } = prepared;
  const variants = channelEntries(template).flatMap(([channel, byLocale]) =>
    Object.entries(byLocale).map(([locale, variant]) => ({ channel, locale, variant })),
  );
  const outcomes = await Promise.all(
    // One job per variant: each gets the whole render allowance, as one message would.
    variants.map(({ channel, locale, variant }) =>
      renderer.render([item(template.partials, channel, locale, variant, template.sample_variables)]).then(([outcome]) => outcome),
    ),
  );
  const problems: FieldProblem[] = [];
  outcomes.forEach((outcome, i) => {
    const { channel, locale } = variants[i] ?? { channel: '', locale: '' };
    if (outcome !== undefined && !outcome.ok) {
      const field = outcome.field === undefined ? '' : `/${outcome.field}`;
      const said = template.sample_variables === undefined ? outcome.message : `${outcome.message} (with sample_variables)`;
      problems.push({ path: `/channels/${channel}/${locale}${field}`, message: said });
    }
  });
  if (problems.length > 0) throw new ValidationError(problems);
}

/**
 * Renders a template as a message in `locale` would get it (its fallback chain, then the
 * default), on every channel or the one asked for, with `variables` (default: the
 * template's sample_variables), checked against its schema first (ValidationError at
 * `/variables/...`). A failed render is `template_render_failed` naming the field.
 */
export async function previewTemplate(
  renderer: Pick<TemplateRenderer, 'render'>,
  prepared: PreparedTemplate,
  request: { readonly variables?: Record<string, unknown>; readonly locale?: string; readonly channel?: Channel },
): Promise<PreviewRender[]> {
  const { template } = prepared;
  const variables = request.variables ?? template.sample_variables ?? {};
  const problems = prepared.checkVariables(variables).map((p) => ({ path: `/variables${p.path}`, message: p.message }));
  if (problems.length > 0) throw new ValidationError(problems);
  const locale = request.locale === undefined ? undefined : canonicalLocale(request.locale);
  if (request.locale !== undefined && locale === undefined) {
    throw new ValidationError([{ path: '/locale', message: 'is not a BCP 47 language tag (e.g. "ru-RU", "en")' }]);
  }
  const channels = channelEntries(template).filter(([channel]) => request.channel === undefined || channel === request.channel);
  if (channels.length === 0) {
    throw new ValidationError([{ path: '/channel', message: `template "${template.name}" has no ${request.channel ?? ''} content (it has: ${Object.keys(template.channels).join(', ')})` }]);
  }
  const picked = channels.map(([channel, byLocale]) => {
    const used = pickLocale(byLocale, locale, template.default_locale);
    return { channel, locale: used, variant: byLocale[used] ?? {} };
  });
  const outcomes = await renderer.render(picked.map(({ channel, locale: used, variant }) => item(template.partials, channel, used, variant, variables)));
  return picked.map(({ channel, locale: used }, i) => {
    const outcome = outcomes[i];
    if (outcome === undefined || !outcome.ok) {
      const message = `${channel}, ${used}${outcome?.field === undefined ? '' : ` ${outcome.field}`}: ${outcome?.message ?? 'not rendered'}`;
      throw new CommstratError('template_render_failed', message, { problems: [{ path: `/channels/${channel}/${used}`, message }] });
    }
    const text = outcome.content.text;
    const sms = channel === 'sms' && text !== undefined ? { ...smsEncoding(text), characters: [...text].length } : undefined;
    return { channel, locale: used, content: outcome.content, ...(sms === undefined ? {} : { sms }) };
  });
}

/**
 * A render item keyed by its content: a template not (yet) saved has no version, so
 * the worker's compiled form is found again by what it compiles.
 */
function item(
  partials: Readonly<Record<string, string>> | undefined,
  channel: Channel,
  locale: string,
  variant: TemplateVariant,
  variables: unknown,
): RenderItem {
  const source = { channel, locale, partials, ...variant };
  const key = `content\u0000${createHash('sha256').update(JSON.stringify(source)).digest('base64url')}`;
  return { key, source: () => source, ...(variables === undefined ? {} : { variables }) };
}
