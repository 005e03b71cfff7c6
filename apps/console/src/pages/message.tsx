import { api } from '../api.ts';
import { Badge, ErrorBox, Fields, Json, Loading, Section, Time } from '../components/common.tsx';
import { useHref, useLoad, useSession } from '../hooks.ts';
import { recipientText } from './messages.tsx';

interface TimelineEvent {
  readonly status: string;
  readonly at: string;
  readonly reason?: string;
  readonly provider?: string;
  readonly step?: number;
  readonly [field: string]: unknown;
}

interface Body {
  readonly text: string;
  readonly truncated: boolean;
  readonly length: number;
}

interface Exchange {
  readonly id: string;
  readonly provider: string;
  readonly started_at: string;
  readonly duration_ms: number;
  readonly http_status: number | null;
  readonly outcome: string;
  readonly messages: number;
  readonly provider_message_id: string | null;
  readonly request: Body;
  readonly response: Body;
}

interface Callback {
  readonly event_id: string;
  readonly seq: number;
  readonly status: string;
  readonly state: string;
  readonly url: string | null;
  readonly attempts: readonly { attempt: number; at: string; url: string; status_code?: number; error?: string; duration_ms: number; next_attempt_at: string | null }[];
}

interface Detail {
  readonly message: Readonly<Record<string, unknown>> & {
    readonly id: string;
    readonly tenant_id: string;
    readonly batch_id: string;
    readonly status: string;
    readonly channel: string;
    readonly priority: string;
    readonly recipient: Readonly<Record<string, string>>;
    readonly strategy?: string;
    readonly strategy_version?: number;
    readonly step?: number;
    readonly provider?: string;
    readonly provider_message_id?: string;
    readonly created_at: string;
    readonly send_at?: string;
    readonly expires_at?: string;
    readonly tags?: readonly string[];
    readonly content?: unknown;
    readonly timeline: readonly TimelineEvent[];
    readonly redrive_of?: string;
    readonly redriven_as?: string;
  };
  readonly exchanges: readonly Exchange[];
  readonly callbacks: readonly Callback[];
}

/** One message: what it is, its timeline, each exchange with a provider and each callback attempt. */
export function MessagePage({ id }: { id: string }) {
  const session = useSession();
  const href = useHref();
  const detail = useLoad(() => api.get<Detail>(`/messages/${encodeURIComponent(id)}`), [id]);
  if (detail.error !== undefined) return <ErrorBox error={detail.error} />;
  if (detail.data === undefined) return <Loading when={true} />;
  const { message, exchanges, callbacks } = detail.data;
  const tenantLink = (path: string, query: Record<string, string | number | undefined> = {}) =>
    session.role === 'operator' ? `/console${path}?${new URLSearchParams({ ...stringify(query), tenant: message.tenant_id }).toString()}` : href(path, query);
  return (
    <>
      <p class="crumbs">
        <a href={tenantLink('/messages')}>Messages</a> / <code>{message.id}</code>
      </p>
      <Section title="Message" actions={<Badge value={message.status} />}>
        <Fields
          rows={[
            ['id', <code>{message.id}</code>],
            ['tenant', message.tenant_id],
            ['batch', <a href={tenantLink('/messages', { batch_id: message.batch_id })}>{message.batch_id}</a>],
            ['channel', message.channel],
            ['priority', message.priority],
            ['recipient', <span class="recipient">{recipientText(message.recipient)}</span>],
            [
              'strategy',
              message.strategy === undefined ? undefined : (
                <a href={tenantLink(`/strategies/${encodeURIComponent(message.strategy)}`)}>
                  {message.strategy} version {message.strategy_version ?? '?'}
                </a>
              ),
            ],
            ['cascade step', message.step === undefined ? undefined : String(message.step)],
            ['provider', message.provider],
            ['provider message id', message.provider_message_id],
            ['created', <Time at={message.created_at} />],
            ['send at', message.send_at === undefined ? undefined : <Time at={message.send_at} />],
            ['expires', message.expires_at === undefined ? undefined : <Time at={message.expires_at} />],
            ['tags', (message.tags ?? []).join(', ') || undefined],
            ['re-drive of', message.redrive_of === undefined ? undefined : <a href={href(`/messages/${message.redrive_of}`)}>{message.redrive_of}</a>],
            ['re-driven as', message.redriven_as === undefined ? undefined : <a href={href(`/messages/${message.redriven_as}`)}>{message.redriven_as}</a>],
          ]}
        />
        <details>
          <summary>Content</summary>
          <Json value={message.content} />
        </details>
      </Section>
      <Section title="Timeline">
        <table class="grid timeline">
          <thead>
            <tr>
              <th>at</th>
              <th>status</th>
              <th>step</th>
              <th>provider</th>
              <th>reason</th>
            </tr>
          </thead>
          <tbody>
            {message.timeline.map((event, i) => (
              <tr key={i}>
                <td>
                  <Time at={event.at} />
                </td>
                <td>
                  <Badge value={event.status} />
                </td>
                <td>{event.step ?? ''}</td>
                <td>{event.provider ?? ''}</td>
                <td>{event.reason ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
      <Section title={`Provider exchanges (${exchanges.length})`}>
        {exchanges.length === 0 && <p class="muted">No provider was called for this message.</p>}
        {exchanges.map((exchange) => (
          <details class="exchange" key={exchange.id}>
            <summary>
              <Time at={exchange.started_at} /> · {exchange.provider} · <Badge value={exchange.outcome === 'accepted' ? 'sent' : exchange.outcome === 'error' ? 'failed' : 'rejected'} />{' '}
              {exchange.outcome} · HTTP {exchange.http_status ?? '—'} · {exchange.duration_ms} ms · {exchange.messages} message{exchange.messages === 1 ? '' : 's'} in the request
              {exchange.provider_message_id !== null && <> · provider id {exchange.provider_message_id}</>}
            </summary>
            <h3>Request</h3>
            <BodyView body={exchange.request} />
            <h3>Response</h3>
            <BodyView body={exchange.response} />
          </details>
        ))}
      </Section>
      <Section title={`Status callbacks (${callbacks.length})`}>
        {callbacks.length === 0 && <p class="muted">No status callback for this message (the tenant has no callback URL, or none was due yet).</p>}
        {callbacks.length > 0 && (
          <table class="grid callbacks">
            <thead>
              <tr>
                <th>#</th>
                <th>status</th>
                <th>state</th>
                <th>attempt</th>
                <th>at</th>
                <th>answer</th>
                <th>took</th>
                <th>next attempt</th>
              </tr>
            </thead>
            <tbody>
              {callbacks.flatMap((callback) =>
                callback.attempts.length === 0
                  ? [
                      <tr key={callback.event_id}>
                        <td>{callback.seq}</td>
                        <td>
                          <Badge value={callback.status} />
                        </td>
                        <td>{callback.state}</td>
                        <td colSpan={5} class="muted">
                          not attempted yet
                        </td>
                      </tr>,
                    ]
                  : callback.attempts.map((attempt) => (
                      <tr key={`${callback.event_id}-${attempt.attempt}`}>
                        <td>{callback.seq}</td>
                        <td>
                          <Badge value={callback.status} />
                        </td>
                        <td>{callback.state}</td>
                        <td>{attempt.attempt}</td>
                        <td>
                          <Time at={attempt.at} />
                        </td>
                        <td>{attempt.status_code !== undefined ? `HTTP ${attempt.status_code}` : (attempt.error ?? '')}</td>
                        <td>{attempt.duration_ms} ms</td>
                        <td>
                          <Time at={attempt.next_attempt_at} />
                        </td>
                      </tr>
                    )),
              )}
            </tbody>
          </table>
        )}
      </Section>
    </>
  );
}

function BodyView({ body }: { body: Body }) {
  let text = body.text;
  try {
    text = JSON.stringify(JSON.parse(body.text), null, 2);
  } catch {
    // not JSON: shown as it came
  }
  return (
    <>
      <pre class="json">{text}</pre>
      {body.truncated && <p class="muted">Cut at {body.text.length} of {body.length} characters.</p>}
    </>
  );
}

function stringify(query: Record<string, string | number | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(query).flatMap(([k, v]) => (v === undefined ? [] : [[k, String(v)]])));
}
