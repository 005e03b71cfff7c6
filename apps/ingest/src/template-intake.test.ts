import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CachedTemplate, Routing } from '@commstrat/config';
import { CommstratError, DEFAULT_CONSENT_SETTINGS, DependencyUnavailableError, validateMessageRequest, type Strategy } from '@commstrat/core';
import { checkTemplate, type RenderOutcome } from '@commstrat/templates';
import { RenderBudget, renderMessageTemplates, type TemplateIntakeDeps } from './template-intake.ts';

const strategy: Strategy = { name: 'otp', channel: 'sms', steps: [{ route: { mode: 'failover', providers: ['sms'] } }] };
const routing: Routing = { strategy, version: 1, providers: new Map(), tenantTimeZone: 'UTC', stopList: new Set(), consent: DEFAULT_CONSENT_SETTINGS, exemptCategories: new Set() };
const document = {
  name: 'code',
  default_locale: 'en',
  variables: { type: 'object', required: ['code'], properties: { code: { type: 'string' } } },
  sample_variables: { code: '0000' },
  channels: { sms: { en: { text: 'Your code is {{ code }}' } } },
};
const cached: CachedTemplate = {
  tenantId: 'acme',
  name: 'code',
  version: 1,
  template: checkTemplate(document).template,
  prepared: checkTemplate(document),
  createdBy: 'test',
  createdAt: new Date(),
};
const request = validateMessageRequest({ channel: 'sms', recipient: { phone: '+79161234567' }, content: { template_id: 'code', variables: { code: '1234' } } });

/** The deps of a tenant with the one template above, rendered by `render`. */
function deps(render: TemplateIntakeDeps['renderer']['render']): { deps: TemplateIntakeDeps; outcomes: string[] } {
  const outcomes: string[] = [];
  return {
    outcomes,
    deps: {
      templates: { get: () => Promise.resolve(cached) },
      tenantTemplates: () => Promise.resolve({ versions: new Map([['code', 1]]), defaultLocale: undefined }),
      renderer: { render },
      metrics: { rendered: (kind) => void outcomes.push(kind), renderTook: () => {}, workerReplaced: () => {} },
    },
  };
}

const answering = (outcome: RenderOutcome) => (items: readonly unknown[]) => Promise.resolve(items.map(() => outcome));

test('a renderer that cannot run (closed, its worker not started) is a dependency unavailable, not a bad template', async () => {
  const { deps: d } = deps(() => Promise.reject(new DependencyUnavailableError('template renderer', new Error('the template renderer is closed'))));
  await assert.rejects(renderMessageTemplates(d, 'acme', request, routing, new RenderBudget(1000)), (error: unknown) => {
    assert.ok(error instanceof DependencyUnavailableError, String(error));
    assert.equal(error.code, 'dependency_unavailable');
    return true;
  });
});

test("a render the template itself fails is template_render_failed naming the template_id", async () => {
  const { deps: d, outcomes } = deps(answering({ ok: false, kind: 'crashed', message: 'used more than the 128 MB heap the render worker has' }));
  await assert.rejects(renderMessageTemplates(d, 'acme', request, routing, new RenderBudget(1000)), (error: unknown) => {
    assert.ok(error instanceof CommstratError && !(error instanceof DependencyUnavailableError), String(error));
    assert.equal(error.code, 'template_render_failed');
    assert.match(error.message, /^\/content\/template_id: template "code" version 1 \(sms, en\)/);
    return true;
  });
  assert.deepEqual(outcomes, ['crashed']);
});
