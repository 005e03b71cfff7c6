import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_RENDER_LIMITS } from './limits.ts';
import type { VariantSource } from './render-protocol.ts';
import { CompileFailure, compileVariant, renderVariant } from './render-variant.ts';

const limits = DEFAULT_RENDER_LIMITS;
const sms = (text: string): VariantSource => ({ channel: 'sms', locale: 'en', text });
const render = (source: VariantSource, variables: object) => {
  const compiled = compileVariant(source, limits);
  const started = performance.now();
  const outcome = renderVariant(compiled, variables, started + limits.renderMs, limits);
  return { outcome, ms: performance.now() - started };
};

test('a variant renders its fields with the variables; subject and text are trimmed, HTML is escaped', () => {
  const source: VariantSource = {
    channel: 'email',
    locale: 'en',
    subject: ' Order {{ order.id }}\n',
    text: 'Hi {{ name }}\n',
    html: '<p>{{ name }}</p>{{ note | raw }}',
    partials: {},
  };
  const { outcome } = render(source, { name: 'Ann <ann@x>', order: { id: 'A-1' }, note: '<br>' });
  assert.deepEqual(outcome, { ok: true, content: { subject: 'Order A-1', text: 'Hi Ann <ann@x>', html: '<p>Ann &lt;ann@x&gt;</p><br>' } });
});

test('only own properties are visible: a prototype chain renders as nothing', () => {
  const { outcome } = render(sms('[{{ x.constructor }}{{ x.__proto__ }}{{ "s".constructor.name }}]'), { x: {} });
  assert.deepEqual(outcome, { ok: true, content: { text: '[]' } });
});

test('partials come from the template only: a file path finds nothing', () => {
  const { outcome } = render({ ...sms('{% include "/etc/passwd" %}'), partials: { footer: 'x' } }, {});
  assert.equal(outcome.ok, false);
  assert.match(outcome.ok ? '' : outcome.message, /no partial named "\/etc\/passwd"/);
});

test('a text that renders empty with these variables is refused, naming the field', () => {
  const { outcome } = render(sms('{% if vip %}Welcome{% endif %}'), { vip: false });
  assert.deepEqual(outcome, { ok: false, kind: 'render', field: 'text', message: 'renders an empty text with these variables' });
});

test('output over what a message may hold is refused', () => {
  const { outcome } = render(sms('{% for i in (1..200) %}{{ s }}{% endfor %}'), { s: 'x'.repeat(100) });
  assert.deepEqual(outcome, { ok: false, kind: 'render', field: 'text', message: "renders 20000 characters; a message's text may have at most 10000" });
});

test('deeply nested loops are stopped by the render time limit, close to it', () => {
  const { outcome, ms } = render(sms('{% for i in (1..1000) %}{% for j in (1..1000) %}{% for k in (1..1000) %}x{% endfor %}{% endfor %}{% endfor %}'), {});
  assert.equal(outcome.ok, false);
  assert.match(outcome.ok ? '' : outcome.message, /render limit exceeded/);
  // The bound: the limit and one checkpoint's worth of work after it.
  assert.ok(ms < limits.renderMs * 10, `refused after ${ms} ms`);
});

test('a range over a billion numbers and an output that doubles are stopped by the memory limit', () => {
  for (const text of ['{% for i in (1..1000000000) %}{{ i }}{% endfor %}', '{% assign a = "xxxxxxxxxx" %}{% for i in (1..40) %}{% assign a = a | append: a %}{% endfor %}{{ a }}']) {
    const { outcome } = render(sms(text), {});
    assert.equal(outcome.ok, false, text);
    assert.match(outcome.ok ? '' : outcome.message, /memory alloc limit exceeded/, text);
  }
});

test('a message whose fields together take longer than the allowance is refused at the field that runs out', () => {
  const compiled = compileVariant({ channel: 'email', locale: 'en', subject: 'S', text: 'T' }, limits);
  const outcome = renderVariant(compiled, {}, performance.now() - 1, limits);
  assert.deepEqual(outcome, { ok: false, kind: 'render', field: 'subject', message: "renders for longer than the 50 ms a message's templates may take" });
});

test('MJML without a compiler, and Liquid that does not parse, fail to compile naming the field', () => {
  assert.throws(() => compileVariant({ channel: 'email', locale: 'en', subject: 'S', mjml: '<mjml/>' }, limits), (e) => e instanceof CompileFailure && e.kind === 'mjml');
  assert.throws(() => compileVariant(sms('{{ x | nope }}'), limits), (e) => e instanceof CompileFailure && e.field === 'text' && /undefined filter: nope/.test(e.message));
});

test('the date filter names days in the variant locale, in UTC unless told otherwise', () => {
  const { outcome } = render({ channel: 'sms', locale: 'ru', text: '{{ at | date: "%A %H:%M" }}' }, { at: '2026-03-02T09:30:00Z' });
  assert.deepEqual(outcome, { ok: true, content: { text: 'понедельник 09:30' } });
});
