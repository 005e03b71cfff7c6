// Templates at intake: a message whose content (or whose strategy's step) names a
// `template_id` is checked against the template's variables schema and rendered here,
// once, for every step of its strategy that uses a template. The rendered content goes
// into the journal and the lane entry with the message (RenderedStep), so the
// dispatcher sends it as it sends any content, and the journal shows what each step
// says, by which template version and locale. docs/templates.md says why here.
import {
  CommstratError,
  ValidationError,
  canonicalLocale,
  stepChannel,
  stepContent,
  type Channel,
  type FieldProblem,
  type MessageRequest,
  type RenderedStep,
  type RenderedTemplates,
} from '@commstrat/core';
import type { CachedTemplate, Routing, TemplateCache, TenantTemplates } from '@commstrat/config';
import type { TemplateMetrics } from '@commstrat/observability';
import { pickLocale, type RenderItem, type RenderOutcome, type TemplateRenderer } from '@commstrat/templates';

export interface TemplateIntakeDeps {
  readonly templates: Pick<TemplateCache, 'get'>;
  /** The tenant's newest template versions and default locale (RoutingCache.templates). */
  readonly tenantTemplates: (tenantId: string) => Promise<TenantTemplates>;
  readonly renderer: Pick<TemplateRenderer, 'render'>;
  readonly metrics: TemplateMetrics;
}

/**
 * A message's render counts against its request's budget when it was slow (over this,
 * ms: a hundred times a typical render, so typical ones never count, even on a busy
 * machine) or refused.
 */
const SLOW_RENDER_MS = 5;

/**
 * The time one request may spend on slow or refused renders, all its messages
 * together, so a batch of messages naming a hostile or slow template cannot hold a REST
 * call or a Kafka partition for (messages x the render limit): once spent, its further
 * templated messages are refused. Typical renders are not counted, so a large batch of
 * them is never refused for its size.
 */
export class RenderBudget {
  private leftMs: number;

  constructor(ms: number) {
    this.leftMs = ms;
  }

  spend(ms: number): void {
    this.leftMs -= ms;
  }

  get spent(): boolean {
    return this.leftMs <= 0;
  }
}

/** One step of the message's strategy that names a template. */
interface TemplatedStep {
  readonly index: number;
  readonly channel: Channel;
  readonly name: string;
  readonly content: MessageRequest['content'];
  /** Where the producer wrote the content, e.g. `/content_by_channel/email`. */
  readonly origin: string;
  /** Where the template is named: the content's template_id, or the strategy step. */
  readonly namedAt: string;
  /** Said after a problem with a template a strategy step names, since its path is only `/strategy`. */
  readonly namedBy: string;
}

/**
 * Renders the templates of a validated message for every step of its strategy (the
 * version intake routed it by, which the message is pinned to). Undefined when no step
 * uses a template. Throws ValidationError naming the unknown template or each wrong or
 * missing variable (`/content/variables/order/id`), CommstratError
 * `template_render_failed` when a template fails on these variables or the request's
 * render budget is spent, and DependencyUnavailableError when the template store
 * cannot be read.
 */
export async function renderMessageTemplates(
  deps: TemplateIntakeDeps,
  tenantId: string,
  request: MessageRequest,
  routing: Routing,
  budget: RenderBudget,
): Promise<RenderedTemplates | undefined> {
  const templated = templatedSteps(request, routing);
  if (templated.length === 0) return undefined;
  const { versions, defaultLocale } = await deps.tenantTemplates(tenantId);
  const given = request.recipient.locale;
  const locale = given === undefined ? defaultLocale : canonicalLocale(given);
  const problems: FieldProblem[] = [];
  const planned: { step: TemplatedStep; template: CachedTemplate; locale: string; item: RenderItem }[] = [];
  for (const step of templated) {
    const version = versions.get(step.name);
    if (version === undefined) {
      problems.push({ path: step.namedAt, message: `names no template of this tenant: "${step.name}"${step.namedBy}` });
      continue;
    }
    const template = await deps.templates.get(tenantId, step.name, version);
    const variants = template.template.channels[step.channel];
    if (variants === undefined) {
      const has = Object.keys(template.template.channels).join(', ');
      problems.push({ path: step.namedAt, message: `template "${step.name}" has no ${step.channel} content, which step ${step.index} sends (it has: ${has})${step.namedBy}` });
      continue;
    }
    for (const problem of template.prepared.checkVariables(step.content.variables ?? {})) {
      problems.push({ path: `${step.origin}/variables${problem.path}`, message: `${problem.message} (template "${step.name}")` });
    }
    const used = pickLocale(variants, locale, template.template.default_locale);
    const variant = variants[used] ?? {};
    planned.push({
      step,
      template,
      locale: used,
      item: {
        key: [tenantId, step.name, version, step.channel, used].join('\u0000'),
        source: () => ({ channel: step.channel, locale: used, partials: template.template.partials, ...variant }),
        variables: step.content.variables ?? {},
      },
    });
  }
  if (problems.length > 0) throw new ValidationError(unique(problems));
  if (budget.spent) {
    deps.metrics.rendered('budget');
    throw refusal(templated[0]?.namedAt ?? '/content/template_id', "this request spent its template render time; send its remaining templated messages in another request");
  }
  const started = performance.now();
  const outcomes = await deps.renderer.render(planned.map(({ item }) => item));
  const took = performance.now() - started;
  if (took > SLOW_RENDER_MS || outcomes.some((outcome) => !outcome.ok)) budget.spend(took);
  deps.metrics.renderTook(took / 1000);
  const steps: RenderedStep[] = [];
  for (const [i, { step, template, locale: used }] of planned.entries()) {
    const outcome = outcomes[i] as RenderOutcome;
    if (!outcome.ok) {
      deps.metrics.rendered(outcome.kind);
      const where = `template "${step.name}" version ${template.version} (${step.channel}, ${used})${outcome.field === undefined ? '' : ` ${outcome.field}`}`;
      throw refusal(step.namedAt, `${where}: ${outcome.message}`);
    }
    const { subject: _s, text: _t, html: _h, ...kept } = step.content;
    steps.push({
      step: step.index,
      channel: step.channel,
      template: step.name,
      template_version: template.version,
      locale: used,
      // The template says what the step says: its fields replace the message's own.
      content: { ...kept, ...outcome.content },
    });
  }
  deps.metrics.rendered('ok');
  return { ...(locale === undefined ? {} : { locale }), steps, strategy: routing.strategy.name, strategyVersion: routing.version };
}

function templatedSteps(request: MessageRequest, routing: Routing): TemplatedStep[] {
  const { strategy } = routing;
  const steps: TemplatedStep[] = [];
  strategy.steps.forEach((step, index) => {
    const content = stepContent(request, strategy, index);
    const name = content.template_id;
    if (name === undefined) return;
    const channel = stepChannel(strategy, index);
    const origin = request.content_by_channel?.[channel] === undefined ? '/content' : `/content_by_channel/${channel}`;
    // A step's own template_id wins over the message's (stepContent lays it over).
    const byStep = step.content?.template_id !== undefined;
    steps.push({
      index,
      channel,
      name,
      content,
      origin,
      namedAt: byStep ? '/strategy' : `${origin}/template_id`,
      namedBy: byStep ? ` (named by step ${index} of strategy "${strategy.name}")` : '',
    });
  });
  return steps;
}

function refusal(path: string, message: string): CommstratError {
  return new CommstratError('template_render_failed', `${path}: ${message}`, { problems: [{ path, message }] });
}

function unique(problems: readonly FieldProblem[]): FieldProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.path}\u0000${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
