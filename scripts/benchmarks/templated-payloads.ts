// The templated messages of the Redis bytes cases (redis-bytes.ts): docs/templates.md's
// walkthrough message, in Russian, through an SMS-then-e-mail cascade, its two steps
// rendered in-process by the same compile and render functions the render worker runs,
// and laid over the message's content as intake lays them (template-intake.ts). The
// baseline is the same texts as a producer that renders its own would send them:
// `content` for the SMS, `content_by_channel.email` for the e-mail.
import type { MessageRequest, RenderedStep, RenderedTemplates } from '@commstrat/core';
import { DEFAULT_RENDER_LIMITS, compileVariant, renderVariant, type RenderedContent } from '@commstrat/templates';

/** The cascade both kinds go by (the strategy need not exist: nothing here routes). */
const STRATEGY = { name: 'order-updates', version: 1 };
const TEMPLATE = { name: 'order-shipped', version: 1 };

const partials = { signature: 'Acme Shop' };
const sms = compileVariant({ channel: 'sms', locale: 'ru', partials, text: '{{ name }}, заказ {{ order.id }} отправлен: {{ order.url }}' }, DEFAULT_RENDER_LIMITS);
const email = compileVariant(
  {
    channel: 'email',
    locale: 'ru',
    partials,
    subject: 'Заказ {{ order.id }} отправлен',
    text: '{{ name }}, здравствуйте!\nЗаказ {{ order.id }} отправлен: {{ order.url }}\n{% render "signature" %}',
    html:
      '<p>{{ name }}, здравствуйте!</p>\n<p>Заказ {{ order.id }} отправлен:</p>\n' +
      '<ul>{% for item in order.items %}<li>{{ item.qty }} × {{ item.title }}</li>{% endfor %}</ul>\n' +
      '<p><a href="{{ order.url }}">Отследить заказ</a></p>\n<p>{% render "signature" %}</p>\n',
  },
  DEFAULT_RENDER_LIMITS,
);

function variables(n: number) {
  const id = `A-${String(1000 + (n % 9000))}`;
  return { name: 'Анна', order: { id, url: `https://shop.example/o/${id}`, items: [{ title: 'Чайник', qty: 1 }, { title: 'Кружка', qty: 2 }] } };
}

function render(compiled: typeof sms, vars: unknown): RenderedContent {
  const outcome = renderVariant(compiled, vars, performance.now() + 1000, DEFAULT_RENDER_LIMITS);
  if (!outcome.ok) throw new Error(`the bench template did not render: ${outcome.message}`);
  return outcome.content;
}

const recipient = (n: number) => ({ phone: `+7916${String(1_000_000 + (n % 9_000_000)).padStart(7, '0')}`, email: `anna.${String(n)}@example.com`, locale: 'ru-RU' });

/** Message `n` naming the template, and what intake would have rendered for it. */
export function templatedMessage(n: number): { request: Record<string, unknown>; rendered: RenderedTemplates } {
  const vars = variables(n);
  const content = { template_id: TEMPLATE.name, variables: vars };
  const step = (index: number, channel: 'sms' | 'email', fields: RenderedContent): RenderedStep => ({
    step: index,
    channel,
    template: TEMPLATE.name,
    template_version: TEMPLATE.version,
    locale: 'ru',
    // As template-intake.ts: the template's fields laid over the step's content.
    content: { ...content, ...fields },
  });
  return {
    request: { strategy: STRATEGY.name, recipient: recipient(n), content, tags: ['bench'] },
    rendered: {
      locale: 'ru-RU',
      steps: [step(0, 'sms', render(sms, vars)), step(1, 'email', render(email, vars))],
      strategy: STRATEGY.name,
      strategyVersion: STRATEGY.version,
    },
  };
}

/** Message `n` with the same texts, rendered by its producer. */
export function preRenderedMessage(n: number): Record<string, unknown> {
  const vars = variables(n);
  const text = render(sms, vars).text ?? '';
  const mail = render(email, vars);
  return {
    strategy: STRATEGY.name,
    recipient: recipient(n),
    content: { text },
    content_by_channel: { email: mail as MessageRequest['content'] },
    tags: ['bench'],
  };
}
