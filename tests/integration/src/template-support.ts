// What the template tests share: a template with an SMS in two locales and an e-mail,
// and calls to the admin API as an admin key of the deployment's tenant.
import { as, keyWith, type Answer } from './admin-support.ts';
import { eventually } from './harness.ts';
import type { Deployment } from './services.ts';

/** An order-shipped template: its SMS in en and ru, its e-mail in en. */
export const orderShipped = (text = 'Hi {{ name }}, order {{ order.id }} has shipped.') => ({
  name: 'order-shipped',
  default_locale: 'en',
  variables: {
    type: 'object',
    required: ['name', 'order'],
    properties: {
      name: { type: 'string', minLength: 1, maxLength: 100 },
      order: {
        type: 'object',
        required: ['id'],
        properties: { id: { type: 'string' }, items: { type: 'array', maxItems: 100, items: { type: 'string' } } },
      },
    },
  },
  sample_variables: { name: 'Ann', order: { id: 'A-1', items: ['socks'] } },
  channels: {
    sms: { en: { text }, ru: { text: '{{ name }}, заказ {{ order.id }} отправлен.' } },
    email: { en: { subject: 'Order {{ order.id }} shipped', html: '<p>Hi {{ name }}</p><ul>{% for item in order.items %}<li>{{ item }}</li>{% endfor %}</ul>' } },
  },
});

/** Calls the admin API as a new admin key of the deployment's tenant. */
export async function templateAdmin(deployment: Deployment): Promise<(method: string, path: string, body?: unknown) => Promise<Answer>> {
  return as(deployment, await keyWith(deployment, ['admin']));
}

/** Posts a message until ingest has seen what was saved a moment ago (422 until its snapshot reloads). */
export async function acceptOnceSeen(deployment: Deployment, message: object): Promise<string> {
  return eventually(
    'ingest to see the saved configuration',
    async () => {
      const { status, body } = await deployment.api('POST', '/v1/messages', message);
      if (status === 202) return body.id as string;
      if (status !== 422) throw new Error(`${status} ${JSON.stringify(body)}`);
      return undefined;
    },
    10_000,
    100,
  );
}
