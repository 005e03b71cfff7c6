import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ValidationError } from '@commstrat/core';
import { checkTemplate } from './check-template.ts';

const shipped = () => ({
  name: 'order-shipped',
  default_locale: 'en',
  variables: {
    type: 'object',
    required: ['name', 'order'],
    properties: {
      name: { type: 'string', maxLength: 100 },
      order: { type: 'object', required: ['id'], properties: { id: { type: 'string' }, items: { type: 'array', items: { type: 'object', properties: { title: { type: 'string' } } } } } },
    },
  },
  sample_variables: { name: 'Ann', order: { id: 'A-1' } },
  partials: { signature: 'Acme {{ name }}' },
  channels: {
    sms: { en: { text: 'Hi {{ name }}, order {{ order.id }} has shipped.' }, ru: { text: 'Заказ {{ order.id }} отправлен.' } },
    email: {
      en: {
        subject: 'Order {{ order.id }}',
        html: '<p>{% for item in order.items %}{{ item.title }} {{ forloop.index }}{% endfor %}</p>{% render "signature", name: name %}',
      },
    },
  },
});

/** The problems checkTemplate reports for `document`, as "path: message". */
function problemsOf(document: unknown): string[] {
  try {
    checkTemplate(document);
  } catch (error) {
    assert.ok(error instanceof ValidationError, String(error));
    return error.problems.map((p) => `${p.path}: ${p.message}`);
  }
  assert.fail('the template was accepted');
}

const withChannels = (channels: object) => ({ ...shipped(), channels });

test('a template with channels, locales, partials and declared variables is accepted and its variables compiled', () => {
  const { template, checkVariables } = checkTemplate(shipped());
  assert.equal(template.name, 'order-shipped');
  assert.deepEqual(checkVariables({ name: 'Ann', order: { id: 'A-1' } }), []);
});

test('a Liquid syntax error, an unknown filter and an unknown tag are refused at the field that has them', () => {
  const problems = problemsOf(withChannels({ sms: { en: { text: '{% if name %}open' }, de: { text: '{{ name | shout }}' }, fr: { text: '{% nope %}' } } }));
  assert.equal(problems.length, 3, problems.join('\n'));
  assert.match(problems[0] ?? '', /^\/channels\/sms\/en\/text: tag \{% if name %\} not closed/);
  assert.match(problems[1] ?? '', /^\/channels\/sms\/de\/text: undefined filter: shout/);
  assert.match(problems[2] ?? '', /^\/channels\/sms\/fr\/text: tag "nope" not found/);
});

test('a variable the schema does not declare is refused, at any depth, with what is wrong with it', () => {
  const problems = problemsOf(withChannels({ sms: { en: { text: '{{ nmae }} {{ order.idd }} {{ order.items.title }} {{ name.first_letter }}' } } }));
  assert.deepEqual(problems, [
    '/channels/sms/en/text: uses {{ nmae }}, which is not declared in variables (list it under properties)',
    '/channels/sms/en/text: uses {{ order.idd }}, which is not declared in variables (list it under properties)',
    '/channels/sms/en/text: uses {{ order.items.title }}, which is an array: use .first, .last, .size or an index, not .title',
    '/channels/sms/en/text: uses {{ name.first_letter }}, which is a string: it has no .first_letter',
  ]);
});

test('loop variables, assigned names and what a partial is passed are not taken for undeclared variables', () => {
  const text = '{% assign n = order.items | size %}{{ n }}{% for item in order.items %}{{ item.title }}{{ forloop.first }}{% endfor %}{{ order.items.first.title }}';
  assert.doesNotThrow(() => checkTemplate(withChannels({ sms: { en: { text } } })));
});

test('a partial that uses an undeclared variable is refused at the field that includes it', () => {
  const problems = problemsOf({ ...withChannels({ sms: { en: { text: '{% include "signature" %}' } } }), partials: { signature: '{{ shop }}' } });
  assert.deepEqual(problems, ['/channels/sms/en/text: uses {{ shop }}, which is not declared in variables (list it under properties)']);
});

test('a partial the template does not have is refused, naming the partials it has', () => {
  const problems = problemsOf(withChannels({ sms: { en: { text: '{% render "footer" %}' } } }));
  assert.equal(problems.length, 1);
  assert.match(problems[0] ?? '', /^\/channels\/sms\/en\/text: no partial named "footer".*\(partials: signature\)$/);
});

test('locales must be canonical BCP 47 and every channel needs the default locale', () => {
  const problems = problemsOf({ ...withChannels({ sms: { 'ru-ru': { text: 'x' }, 'not a locale': { text: 'y' } } }), default_locale: 'en' });
  assert.deepEqual(problems, [
    '/channels/sms/ru-ru: write the locale as "ru-RU", its canonical form',
    '/channels/sms/not a locale: "not a locale" is not a BCP 47 language tag (e.g. "en", "ru", "ru-RU")',
    '/channels/sms: has no variant for default_locale "en"',
  ]);
});

test('each channel takes its own fields: an e-mail a subject and a body, an SMS a text without HTML', () => {
  const problems = problemsOf(withChannels({ email: { en: { text: 'x', mjml: '<mjml></mjml>', html: '<p/>' } }, sms: { en: { subject: 's', html: '<p/>' } } }));
  assert.deepEqual(problems, [
    '/channels/email/en/subject: is required for channel email',
    '/channels/email/en/mjml: give html or mjml, not both: the MJML is compiled to the HTML',
    '/channels/sms/en/text: is required for channel sms',
    '/channels/sms/en/html: is for channel email only',
    '/channels/sms/en/subject: is for channels email and push (its title) only',
  ]);
});

test('a variables schema with a regular expression, a $ref or an unknown keyword is refused', () => {
  const problems = problemsOf({
    ...shipped(),
    variables: { type: 'object', properties: { code: { type: 'string', pattern: '^(a+)+$' }, other: { $ref: '#/x' }, third: { type: 'string', colour: 'red' } } },
  });
  assert.deepEqual(problems, [
    '/variables/properties/code/pattern: is not allowed: a regular expression would run on every message (use format, enum or maxLength)',
    '/variables/properties/other/$ref: is not allowed: write the schema out in place',
    '/variables/properties/third/colour: is not a JSON Schema keyword variables may use',
  ]);
});

test('variables that are not an object schema are refused', () => {
  assert.deepEqual(problemsOf({ ...shipped(), variables: { type: 'string' } }), ['/variables/type: must be "object": the variables are an object of named values']);
});

test('sample variables must match the schema', () => {
  assert.deepEqual(problemsOf({ ...shipped(), sample_variables: { name: 'Ann' } }), ['/sample_variables/order: is required']);
});

test('a document over its size limit is refused before anything else is looked at', () => {
  const problems = problemsOf({ ...shipped(), description: 'x'.repeat(1_000_001) });
  assert.match(problems[0] ?? '', /^: is \d+ characters as JSON; a template may have at most 1000000$/);
});

test('the shape is checked by its schema, naming the field', () => {
  assert.deepEqual(problemsOf({ ...shipped(), channels: { fax: { en: { text: 'x' } } } }), ['/channels/fax: is not an allowed property']);
  assert.deepEqual(problemsOf({ ...shipped(), name: undefined }), ['/name: is required']);
});
