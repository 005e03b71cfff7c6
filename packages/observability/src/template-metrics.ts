import { Counter, Histogram, type Registry } from 'prom-client';

// --- Templates (apps/ingest/src/template-intake.ts) -----------------------------------
// No tenant label: the journal names each message's template and version.

/** What ingest's templates report: each message's render, and the render worker's replacements. */
export interface TemplateMetrics {
  /** A message's templates rendered (`ok`) or were refused, by why: render, mjml, timeout, crashed, budget. */
  rendered(outcome: string): void;
  /** One message's templates took this long in the render worker, the round trip included. */
  renderTook(seconds: number): void;
  /** The render worker was replaced: timeout (a render past the hard limit) or crashed (e.g. over its heap cap). */
  workerReplaced(reason: string): void;
}

/** Metrics of ingest's templates, reported through TemplateMetrics. */
export function templateMetrics(registry: Registry): TemplateMetrics {
  const renders = new Counter({
    name: 'commstrat_template_renders_total',
    help: 'Messages whose templates were rendered at intake, by outcome: ok, or why refused (render, mjml, timeout, crashed, budget).',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const renderDuration = new Histogram({
    name: 'commstrat_template_render_duration_seconds',
    help: "Time to render one message's templates in the render worker, the round trip included.",
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });
  const workerRestarts = new Counter({
    name: 'commstrat_template_worker_restarts_total',
    help: 'Times the template render worker was replaced: timeout (a render past the hard limit) or crashed (e.g. over its heap cap).',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  return {
    rendered: (outcome) => renders.inc({ outcome }),
    renderTook: (seconds) => renderDuration.observe(seconds),
    workerReplaced: (reason) => workerRestarts.inc({ reason }),
  };
}
