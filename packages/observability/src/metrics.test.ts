import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRegistry, dispatcherMetrics, ingestMetrics } from './metrics.ts';
import { templateMetrics } from './template-metrics.ts';

// Every label a series may carry: each has a small, known set of values.
const BOUNDED_LABELS = new Set([
  'encoding',
  'service',
  'source',
  'tenant',
  'priority',
  'reason',
  'topic',
  'partition',
  'provider',
  'outcome',
  'lane',
  'method',
  'route',
  'status',
  'le',
  'quantile',
  'space',
  'kind',
  'version',
  'major',
  'minor',
  'patch',
  'type',
]);

test('no metric of either tier has a label outside the bounded set (no message id, phone or e-mail)', async () => {
  for (const make of [ingestMetrics, dispatcherMetrics, templateMetrics]) {
    const registry = createRegistry('test');
    make(registry);
    for (const metric of await registry.getMetricsAsJSON()) {
      const names = new Set<string>();
      for (const value of metric.values)
        for (const label of Object.keys(value.labels)) names.add(label);
      // Labels of series not yet written are declared on the metric itself.
      const declared =
        (registry.getSingleMetric(metric.name) as unknown as { labelNames?: string[] })
          .labelNames ?? [];
      for (const label of [...names, ...declared])
        assert.ok(BOUNDED_LABELS.has(label), `${metric.name} has label ${label}`);
    }
  }
});

test('with the tenant label off, ingest counts without tenant and the dispatcher by provider id alone', async () => {
  const registry = createRegistry('test');
  const ingest = ingestMetrics(registry, { tenantLabel: false });
  const dispatcher = dispatcherMetrics(registry, { tenantLabel: false });
  ingest.accepted('rest', 'acme', 'normal');
  ingest.accepted('rest', 'globex', 'normal');
  dispatcher.dispatched('acme/sms-main', 'accepted', 3);
  dispatcher.providerRequest('globex/sms-main', 'accepted', 10, 0.2);
  dispatcher.circuit('acme/sms-main', 2);
  const text = await registry.metrics();
  assert.match(
    text,
    /commstrat_messages_accepted_total\{source="rest",priority="normal",service="test"\} 2/,
  );
  assert.match(
    text,
    /commstrat_messages_dispatched_total\{provider="sms-main",outcome="accepted",service="test"\} 3/,
  );
  assert.match(text, /commstrat_provider_circuit_state\{provider="sms-main",service="test"\} 2/);
  assert.doesNotMatch(text, /acme|globex/);
});

test('by default the tenant is a label and part of the provider label', async () => {
  const registry = createRegistry('test');
  ingestMetrics(registry).accepted('kafka', 'acme', 'bulk');
  dispatcherMetrics(registry).dispatched('acme/sms-main', 'error', 1);
  const text = await registry.metrics();
  assert.match(
    text,
    /commstrat_messages_accepted_total\{source="kafka",tenant="acme",priority="bulk",service="test"\} 1/,
  );
  assert.match(
    text,
    /commstrat_messages_dispatched_total\{provider="acme\/sms-main",outcome="error",service="test"\} 1/,
  );
});

test("ingest's templates count each message's render by outcome, its time, and the render worker's replacements by reason", async () => {
  const registry = createRegistry('test');
  const templates = templateMetrics(registry);
  templates.rendered('ok');
  templates.rendered('ok');
  templates.rendered('budget');
  templates.renderTook(0.0004);
  templates.workerReplaced('timeout');
  const text = await registry.metrics();
  assert.match(text, /commstrat_template_renders_total\{outcome="ok",service="test"\} 2/);
  assert.match(text, /commstrat_template_renders_total\{outcome="budget",service="test"\} 1/);
  assert.match(text, /commstrat_template_render_duration_seconds_bucket\{le="0.0005",service="test"\} 1/);
  assert.match(text, /commstrat_template_render_duration_seconds_bucket\{le="0.00025",service="test"\} 0/);
  assert.match(text, /commstrat_template_worker_restarts_total\{reason="timeout",service="test"\} 1/);
});
