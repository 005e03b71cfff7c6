// What the benchmarks send: one-time-password SMS as a typical tenant sends them, each
// to a different (valid) Russian mobile number so phone validation does real work.
// No idempotency keys: that Redis round trip is measured separately when it matters.

export interface MessageBody {
  readonly channel: 'sms';
  readonly recipient: { readonly phone: string };
  readonly content: { readonly text: string };
  readonly priority: 'normal';
  readonly tags: readonly string[];
}

export function smsMessage(n: number): MessageBody {
  const subscriber = String(1_000_000 + (n % 9_000_000)).padStart(7, '0');
  return {
    channel: 'sms',
    recipient: { phone: `+7916${subscriber}` },
    content: { text: `Your code is ${String(1000 + (n % 9000))}. Do not share it with anyone.` },
    priority: 'normal',
    tags: ['bench'],
  };
}

/** `POST /v1/messages/batch` body (and Kafka batch envelope) of `size` messages. */
export function batchEnvelope(size: number, offset = 0): { messages: MessageBody[] } {
  return { messages: Array.from({ length: size }, (_, i) => smsMessage(offset + i)) };
}
