import http, { type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { egressAgent } from './egress-agent.ts';
import type { EgressPolicy } from './egress-policy.ts';

export interface EgressAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The start of the answer body, at most `maxAnswerBytes`, decoded as UTF-8. */
  readonly body: string;
}

/** Thrown when an outgoing request takes longer than its time limit; the request is aborted. */
export class EgressTimeoutError extends Error {
  override readonly name = 'EgressTimeoutError';

  constructor(timeoutMs: number) {
    super(`no complete answer within ${timeoutMs} ms`);
  }
}

/**
 * POSTs to URLs of many hosts (status callbacks), over kept-alive connections that the
 * egress policy checks. Never follows a redirect: a 3xx is an answer like any other.
 */
export class EgressClient {
  private readonly policy: EgressPolicy;
  private readonly agents: { readonly http: http.Agent; readonly https: http.Agent };

  constructor(policy: EgressPolicy, options: { readonly maxSocketsPerHost?: number } = {}) {
    this.policy = policy;
    const agentOptions = { keepAlive: true, maxSockets: options.maxSocketsPerHost ?? 8 };
    this.agents = { http: egressAgent(policy, 'http:', agentOptions), https: egressAgent(policy, 'https:', agentOptions) };
  }

  /**
   * Sends `body` to `url`. Rejects with EgressRefusedError when the policy refuses the
   * URL or the address it resolves to, EgressTimeoutError past `timeoutMs`, or the
   * socket's error. Reads at most `maxAnswerBytes` of the answer and drops the rest.
   */
  post(
    url: string,
    body: string,
    headers: Readonly<Record<string, string>>,
    options: { readonly timeoutMs: number; readonly maxAnswerBytes: number },
  ): Promise<EgressAnswer> {
    const target = this.policy.target(url);
    const agent = target.url.protocol === 'https:' ? this.agents.https : this.agents.http;
    return new Promise<EgressAnswer>((resolve, reject) => {
      const request = (target.url.protocol === 'https:' ? httpsRequest : http.request)(target.url, {
        method: 'POST',
        agent,
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
      });
      const timer = setTimeout(() => request.destroy(new EgressTimeoutError(options.timeoutMs)), options.timeoutMs);
      const fail = (error: Error) => {
        clearTimeout(timer);
        reject(error);
      };
      request.once('error', fail);
      request.once('response', (response) => {
        const chunks: Buffer[] = [];
        let read = 0;
        response.on('data', (chunk: Buffer) => {
          if (read < options.maxAnswerBytes) chunks.push(chunk);
          read += chunk.byteLength;
          // Past the limit the rest is not wanted: only the status counts.
          if (read > options.maxAnswerBytes) response.destroy();
        });
        const done = () => {
          clearTimeout(timer);
          const text = Buffer.concat(chunks).subarray(0, options.maxAnswerBytes).toString('utf8');
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body: text });
        };
        response.once('end', done);
        response.once('close', () => (response.complete ? undefined : done()));
        response.once('error', () => undefined);
      });
      request.end(body);
    });
  }

  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }
}
