import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { DependencyUnavailableError } from '@commstrat/core';
import { DEFAULT_RENDER_LIMITS } from './limits.ts';
import type { VariantSource } from './render-protocol.ts';
import { TemplateRenderer, type TemplateRendererOptions } from './template-renderer.ts';

const sms = (text: string) => (): VariantSource => ({ channel: 'sms', locale: 'en', text });

function renderer(options: TemplateRendererOptions = {}): { renderer: TemplateRenderer; restarts: string[] } {
  const restarts: string[] = [];
  const created = new TemplateRenderer({ ...options, onRestart: (why) => restarts.push(why) });
  after(() => created.close());
  return { renderer: created, restarts };
}

test('renders in the worker; a key compiled once renders again without its source', async () => {
  const { renderer: r } = renderer();
  assert.deepEqual(await r.render([{ key: 'k', source: sms('Hi {{ name }}'), variables: { name: 'Ann' } }]), [{ ok: true, content: { text: 'Hi Ann' } }]);
  let asked = 0;
  const source = () => {
    asked++;
    return sms('never used')();
  };
  assert.deepEqual(await r.render([{ key: 'k', source, variables: { name: 'Bob' } }]), [{ ok: true, content: { text: 'Hi Bob' } }]);
  assert.equal(asked, 0, 'the worker held the compiled variant');
});

test('items of one job answer in order, each with its own outcome', async () => {
  const { renderer: r } = renderer();
  const outcomes = await r.render([
    { key: 'a', source: sms('A {{ x }}'), variables: { x: 1 } },
    { key: 'b', source: sms('{{ x | nope }}'), variables: {} },
    { key: 'c', source: sms('C') },
  ]);
  assert.deepEqual(outcomes[0], { ok: true, content: { text: 'A 1' } });
  assert.deepEqual(outcomes[1], { ok: false, kind: 'render', field: 'text', message: 'undefined filter: nope, line:1, col:1' });
  assert.deepEqual(outcomes[2], { ok: true, content: {} }, 'without variables: compiled only');
});

test('hostile Liquid that LiquidJS stops is refused without restarting the worker, after being given the time limit twice', async () => {
  const { renderer: r, restarts } = renderer({ limits: { ...DEFAULT_RENDER_LIMITS, renderMs: 100 } });
  await r.render([{ key: 'warm', source: sms('x'), variables: {} }]);
  const started = performance.now();
  const [outcome] = await r.render([{ key: 'loops', source: sms('{% for i in (1..1000) %}{% for j in (1..1000) %}{% for k in (1..1000) %}x{% endfor %}{% endfor %}{% endfor %}'), variables: {} }]);
  const took = performance.now() - started;
  assert.equal(outcome?.ok, false);
  assert.match(outcome?.ok === false ? outcome.message : '', /render limit exceeded/);
  // A render that ran out of time is tried once more (the limit is wall-clock), so the
  // refusal comes after two limits, and well before the hard one.
  assert.ok(took >= 195 && took < 1000, `refused after ${took} ms`);
  assert.deepEqual(restarts, []);
});

test('a single filter that runs past the hard limit gets the worker replaced, and the next job renders', async () => {
  // One split/join of a few MB runs between LiquidJS's checkpoints: only the hard limit stops it.
  const { renderer: r, restarts } = renderer({ hardTimeoutMs: 100 });
  const started = Date.now();
  const [outcome] = await r.render([{ key: 'split', source: sms('{{ s | split: "" | join: "," | size }}'), variables: { s: 'x'.repeat(8_000_000) } }]);
  const took = Date.now() - started;
  assert.equal(outcome?.ok, false);
  assert.equal(outcome?.ok === false && outcome.kind, 'timeout');
  assert.deepEqual(restarts, ['timeout']);
  assert.ok(took < 2000, `answered after ${took} ms`);
  assert.deepEqual(await r.render([{ key: 'k', source: sms('still {{ a }}'), variables: { a: 'here' } }]), [{ ok: true, content: { text: 'still here' } }]);
});

test('a render that allocates past the worker heap kills the worker only', async () => {
  // An array of 8 million one-character strings: 64 MB of pointers against a 16 MB heap.
  const { renderer: r, restarts } = renderer({ heapMb: 16, hardTimeoutMs: 5000 });
  const [outcome] = await r.render([{ key: 'heap', source: sms('{{ s | split: "" | size }}'), variables: { s: 'x'.repeat(8_000_000) } }]);
  assert.equal(outcome?.ok, false);
  assert.equal(outcome?.ok === false && outcome.kind, 'crashed');
  assert.match(outcome?.ok === false ? outcome.message : '', /16 MB/);
  assert.deepEqual(restarts, ['crashed']);
  assert.deepEqual(await r.render([{ key: 'k', source: sms('ok') , variables: {} }]), [{ ok: true, content: { text: 'ok' } }]);
});

test('after a restart the new worker is sent the sources again', async () => {
  const { renderer: r } = renderer({ hardTimeoutMs: 100 });
  await r.render([{ key: 'k', source: sms('one'), variables: {} }]);
  await r.render([{ key: 'split', source: sms('{{ s | split: "" | join: "," }}'), variables: { s: 'x'.repeat(8_000_000) } }]);
  assert.deepEqual(await r.render([{ key: 'k', source: sms('one'), variables: {} }]), [{ ok: true, content: { text: 'one' } }]);
});

test('a closed renderer refuses every job as a dependency unavailable instead of hanging', async () => {
  const { renderer: r } = renderer();
  await r.close();
  // Not the template's fault: no outcome says the template failed; a retry may pass.
  await assert.rejects(r.render([{ key: 'k', source: sms('x'), variables: {} }]), DependencyUnavailableError);
});
