import { Counter, Histogram, type Registry } from 'prom-client';

// --- Templates (apps/ingest/src/template-intake.ts) -----------------------------------
// No tenant label: the journal names each message's template and version.

/** How ingest's templates render: per message, and the render worker's restarts. */
export function templateMetrics(registry: Registry) {
  return {
    renders: new Counter({
      name: 'commstrat_template_renders_total',
      help: 'Messages whose templates were rendered at intake, by outcome: ok, or why refused (render, mjml, timeout, crashed, budget).',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    renderDuration: new Histogram({
      name: 'commstrat_template_render_duration_seconds',
      help: "Time to render one message's templates in the render worker, the round trip included.",
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    workerRestarts: new Counter({
      name: 'commstrat_template_worker_restarts_total',
      help: 'Times the template render worker was replaced: timeout (a render past the hard limit) or crashed (e.g. over its heap cap).',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
  };
}
export type TemplateMetrics = ReturnType<typeof templateMetrics>;
