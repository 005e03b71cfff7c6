import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderChanges } from './output.ts';
import { asChange } from './providers-commands.ts';

test('a change reads as added, removed or changed, values as compact JSON', () => {
  assert.equal(
    renderChanges([{ path: '/steps/1', after: { ttl_seconds: 60 } }, { path: '/tags/0', before: 'x' }, { path: '/steps/0/ttl_seconds', before: 300, after: 600 }, { path: '', before: 1, after: 'a' }]),
    ['  + /steps/1: {"ttl_seconds":60}', '  - /tags/0: "x"', '  ~ /steps/0/ttl_seconds: 300 -> 600', '  ~ /: 1 -> "a"'].join('\n'),
  );
});

test('a provider shown goes back as a change: a stored pin as definition_version, no definition otherwise', () => {
  assert.deepEqual(asChange({ id: 'a', kind: 'acme-api', definition: { source: 'stored', name: 'acme-api', version: 2 } }), { id: 'a', kind: 'acme-api', definition_version: 2 });
  assert.deepEqual(asChange({ id: 'b', kind: 'infobip-sms', definition: { source: 'shipped', name: 'infobip-sms', version: null } }), { id: 'b', kind: 'infobip-sms' });
  assert.deepEqual(asChange({ id: 'c', kind: 'http-sms', definition: null }), { id: 'c', kind: 'http-sms' });
});
