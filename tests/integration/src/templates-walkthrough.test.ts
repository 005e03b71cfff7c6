// docs/templates.md's walkthrough, run from the page's own blocks: the Mailpit provider,
// the template, the cascade and the message marked `walkthrough-*` are applied with the
// `commstrat` CLI to a running ingest + dispatcher + sandbox, as the page says; the
// localised SMS must reach the sandbox and the localised e-mail Mailpit, and the
// preview and the message view must be what the page shows. Only the sandbox, the
// recipient address and the ingest URL are this test's own.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { keyWith } from './admin-support.ts';
import { runCli } from './cli-support.ts';
import { eventually } from './harness.ts';
import { mailpitEnv, messagesTo, uniqueAddress } from './mailpit.ts';
import { startDeployment } from './services.ts';
import { acceptOnceSeen, templateAdmin } from './template-support.ts';

const PAGE = new URL('../../../docs/templates.md', import.meta.url);

/** The fenced blocks whose info string is `<language> <kind>-<name>`, by name. */
function blocks(markdown: string, kind: 'walkthrough' | 'example'): Map<string, string> {
  const found = new Map<string, string>();
  for (const [, name = '', text = ''] of markdown.matchAll(new RegExp(`^\`\`\`\\w+ ${kind}-([a-z-]+)\\n([\\s\\S]*?)^\`\`\`$`, 'gm'))) {
    assert.ok(!found.has(name), `one ${kind}-${name} block`);
    found.set(name, text);
  }
  return found;
}

test('the walkthrough of docs/templates.md sends a localised templated SMS, then e-mail through a cascade', async () => {
  const page = await readFile(PAGE, 'utf8');
  const walkthrough = blocks(page, 'walkthrough');
  assert.deepEqual([...walkthrough.keys()].sort(), ['message', 'preview', 'provider', 'strategy', 'template', 'view']);
  const block = (name: string) => walkthrough.get(name) ?? assert.fail(`walkthrough-${name}`);

  // The egress policy refuses loopback: as on the page, Mailpit's SMTP port is allowed besides the sandbox.
  const smtp = new URL(mailpitEnv().smtpUrl).host;
  assert.match(page, new RegExp(`COMMSTRAT_EGRESS_ALLOW=127\\.0\\.0\\.1:8082,${smtp.replaceAll('.', '\\.')} npm start`), 'the page starts the tiers allowing Mailpit');
  const deployment = await startDeployment({ egressAllow: [mailpitEnv().smtpUrl] });
  const env = { COMMSTRAT_INGEST_URL: deployment.ingest.url, COMMSTRAT_ADMIN_KEY: await keyWith(deployment, ['admin']) };
  const dir = await mkdtemp(join(tmpdir(), 'templates-walkthrough-'));
  after(() => rm(dir, { recursive: true, force: true }));
  const file = async (name: string, text: string) => {
    await writeFile(join(dir, name), text);
    return join(dir, name);
  };
  const cli = async (...args: string[]) => {
    const result = await runCli(args, env);
    assert.equal(result.code, 0, `commstrat ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  };

  // 1. The provider, at the stack's Mailpit as the page has it.
  const provider = parse(block('provider')) as { endpoint: string };
  assert.equal(provider.endpoint, mailpitEnv().smtpUrl, "the page's SMTP address is the stack's");
  await cli('providers', 'apply', await file('mailpit.yaml', block('provider')), '--yes');

  // 2. The template: validated, previewed as the page shows, saved.
  const template = await file('order-shipped.yaml', block('template'));
  await cli('templates', 'validate', template);
  assert.equal(await cli('templates', 'preview', template, '--locale', 'ru-RU', '--channel', 'sms'), block('preview'));
  assert.match(await cli('templates', 'apply', template, '--yes'), /saved template order-shipped version 1/);

  // 3. The cascade.
  await cli('strategies', 'apply', await file('order-updates.yaml', block('strategy')), '--yes');

  // 4. The message, to an address of this test's own.
  const message = JSON.parse(block('message')) as { recipient: Record<string, string>; content: { variables: unknown } };
  const to = uniqueAddress();
  const id = await acceptOnceSeen(deployment, { ...message, recipient: { ...message.recipient, email: to } });

  // 5. What went out: the Russian SMS at once, the Russian e-mail after the 5 s wait.
  const sms = await eventually('the SMS at the sandbox', () => Promise.resolve(deployment.sandbox.received.list({ clientRef: id })[0]));
  assert.equal(sms.text, 'Анна, заказ A-1042 отправлен: https://shop.example/o/A-1042');
  assert.match(page, new RegExp(`shows\\s+the text \`${sms.text}\``), 'the page shows this text');
  const [mail] = await messagesTo(to, 1, 20_000);
  assert.equal(mail?.Subject, 'Заказ A-1042 отправлен');
  assert.equal(mail?.Text.trim(), 'Анна, здравствуйте!\nЗаказ A-1042 отправлен: https://shop.example/o/A-1042\nAcme Shop');
  assert.match(mail?.HTML ?? '', /<li>1 × Чайник<\/li>/);
  const view = await eventually('the message sent by the e-mail step', async () => {
    const body = (await deployment.api('GET', `/v1/messages/${id}`)).body;
    return body.status === 'sent' && body.step === 1 ? body : undefined;
  });
  const shown = JSON.parse(block('view')) as Record<string, unknown>;
  assert.deepEqual(Object.fromEntries(Object.keys(shown).map((key) => [key, view[key]])), shown);

  // The same in English: the e-mail is the HTML its MJML compiled to.
  const english = await acceptOnceSeen(deployment, { ...message, recipient: { ...message.recipient, email: to, locale: 'en' } });
  const englishMail = (await messagesTo(to, 2, 20_000)).find((m) => m.Subject !== mail?.Subject);
  assert.equal(englishMail?.Subject, 'Your order A-1042 has shipped');
  assert.match(englishMail?.HTML ?? '', /Track your order/);
  assert.match(englishMail?.HTML ?? '', /href="https:\/\/shop\.example\/o\/A-1042"/);
  assert.equal(deployment.sandbox.received.list({ clientRef: english })[0]?.text, 'Hi Анна, order A-1042 has shipped: https://shop.example/o/A-1042');
});

test("the preview example of docs/templates.md is what the API answers for the walkthrough's template", async () => {
  const page = await readFile(PAGE, 'utf8');
  const deployment = await startDeployment({ dispatcher: false });
  const admin = await templateAdmin(deployment);
  const template = parse(blocks(page, 'walkthrough').get('template') ?? '') as object;
  assert.equal((await admin('PUT', '/v1/admin/templates/order-shipped', template)).status, 201);
  const shown = JSON.parse(blocks(page, 'example').get('preview') ?? '{}') as { locale: string };
  const answer = await admin('POST', '/v1/admin/templates/order-shipped/preview', { locale: shown.locale, channel: 'sms' });
  assert.deepEqual(answer.body, shown);
  // The YAML the page shows is the document the API stores.
  assert.deepEqual(parse(stringify(template)), (await admin('GET', '/v1/admin/templates/order-shipped')).body.definition);
});
