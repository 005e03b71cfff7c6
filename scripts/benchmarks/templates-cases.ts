// The templates `scripts/bench templates` renders: typical ones (each with the same
// content written as plain string concatenation, the baseline), and hostile ones with
// the limit that is to stop each.
import type { VariantSource } from '@commstrat/templates';

export interface TypicalCase {
  readonly name: string;
  readonly what: string;
  readonly source: VariantSource;
  readonly variables: Record<string, unknown>;
  /** The same output by string concatenation, the baseline; absent where none can be written (MJML's output). */
  readonly concat?: (variables: Record<string, unknown>) => string;
}

export interface HostileCase {
  readonly name: string;
  readonly what: string;
  readonly source: VariantSource;
  readonly variables: Record<string, unknown>;
  /** Which bound stops it: LiquidJS's own (cooperative), or the worker's. */
  readonly stoppedBy: 'renderLimit' | 'memoryLimit' | 'output limit' | 'hard timeout' | 'heap cap';
  /** The worker's heap for this case, MB; default the ingest default (128). */
  readonly heapMb?: number;
}

interface Order {
  readonly id: string;
  readonly url: string;
  readonly items: readonly { readonly title: string; readonly qty: number }[];
}

const order = (items: number): Order => ({
  id: 'A-1042',
  url: 'https://shop.example/o/A-1042',
  items: Array.from({ length: items }, (_, i) => ({ title: `Item number ${i + 1}`, qty: (i % 3) + 1 })),
});

const escapeHtml = (text: string) =>
  text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&#34;').replaceAll("'", '&#39;');

const MJML = `<mjml><mj-body><mj-section><mj-column>
  <mj-text font-size="18px">Hi {{ name }},</mj-text>
  <mj-text>your order {{ order.id }} is on its way:{% for item in order.items %}<br>{{ item.qty }} x {{ item.title }}{% endfor %}</mj-text>
  <mj-button href="{{ order.url }}">Track your order</mj-button>
</mj-column></mj-section></mj-body></mjml>`;

export function typicalCases(): TypicalCase[] {
  const sms = { name: 'Anna', order: order(1) };
  const mail = { name: 'Anna', order: order(10) };
  return [
    {
      name: 'sms',
      what: 'an SMS text with 3 variables',
      source: { channel: 'sms', locale: 'en', text: 'Hi {{ name }}, order {{ order.id }} has shipped: {{ order.url }}' },
      variables: sms,
      concat: (v) => `Hi ${String(v['name'])}, order ${(v['order'] as Order).id} has shipped: ${(v['order'] as Order).url}`,
    },
    {
      name: 'email-html',
      what: 'an e-mail: subject, and HTML with a loop over 10 items, escaped',
      source: {
        channel: 'email',
        locale: 'en',
        subject: 'Your order {{ order.id }} has shipped',
        html: '<p>Hi {{ name }},</p><p>your order {{ order.id }} is on its way:</p><ul>{% for item in order.items %}<li>{{ item.qty }} x {{ item.title }}</li>{% endfor %}</ul><p><a href="{{ order.url }}">Track your order</a></p>',
      },
      variables: mail,
      concat: (v) => {
        const o = v['order'] as Order;
        const items = o.items.map((item) => `<li>${item.qty} x ${escapeHtml(item.title)}</li>`).join('');
        return `Your order ${o.id} has shipped<p>Hi ${escapeHtml(String(v['name']))},</p><p>your order ${escapeHtml(o.id)} is on its way:</p><ul>${items}</ul><p><a href="${escapeHtml(o.url)}">Track your order</a></p>`;
      },
    },
    {
      name: 'email-mjml',
      what: 'the same e-mail from MJML (compiled once, about 5 kB of HTML per render)',
      source: { channel: 'email', locale: 'en', subject: 'Your order {{ order.id }} has shipped', mjml: MJML },
      variables: mail,
    },
  ];
}

const sms = (text: string): VariantSource => ({ channel: 'sms', locale: 'en', text });

export function hostileCases(): HostileCase[] {
  return [
    {
      name: 'nested-loops',
      what: '{% for %} 1000 x 1000 x 1000 deep',
      source: sms('{% for i in (1..1000) %}{% for j in (1..1000) %}{% for k in (1..1000) %}x{% endfor %}{% endfor %}{% endfor %}'),
      variables: {},
      stoppedBy: 'renderLimit',
    },
    {
      name: 'loop-to-n',
      what: 'nested loops to a variable n = 100 000',
      source: sms('{% for i in (1..n) %}{% for j in (1..n) %}{{ i }}{% endfor %}{% endfor %}'),
      variables: { n: 100_000 },
      stoppedBy: 'renderLimit',
    },
    {
      name: 'huge-range',
      what: '{% for i in (1..1000000000) %}',
      source: sms('{% for i in (1..1000000000) %}{{ i }}{% endfor %}'),
      variables: {},
      stoppedBy: 'memoryLimit',
    },
    {
      name: 'doubling',
      what: 'a string appended to itself 40 times',
      source: sms('{% assign a = "xxxxxxxxxx" %}{% for i in (1..40) %}{% assign a = a | append: a %}{% endfor %}{{ a }}'),
      variables: {},
      stoppedBy: 'memoryLimit',
    },
    {
      name: 'output-flood',
      what: 'a 100-character variable written 2 000 times (200 000 characters for an SMS)',
      source: sms('{% for i in (1..2000) %}{{ s }}{% endfor %}'),
      variables: { s: 'x'.repeat(100) },
      stoppedBy: 'output limit',
    },
    {
      name: 'one-big-filter',
      what: 'sort_natural of 600 000 words of a 4.6 MB variable: one filter call, between LiquidJS checkpoints (about 4 s alone)',
      source: sms('{{ s | split: "," | sort_natural | size }}'),
      variables: { s: Array.from({ length: 600_000 }, (_, i) => `w${(i * 7919) % 600_000}`).join(',') },
      stoppedBy: 'hard timeout',
    },
    {
      // Under LiquidJS's memory limit (8 million counted of 10 million), over the heap: a
      // worker started with 16 MB, since at the default 128 MB no template found was
      // both under the memory limit and over the heap.
      name: 'heap',
      what: 'split of an 8 MB variable into 8 million strings, worker heap 16 MB',
      source: sms('{{ s | split: "" | size }}'),
      variables: { s: 'x'.repeat(8_000_000) },
      stoppedBy: 'heap cap',
      heapMb: 16,
    },
  ];
}
