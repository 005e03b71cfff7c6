import { setTimeout as sleep } from 'node:timers/promises';
import express, { type Request, type Response, type Router } from 'express';
import type { SandboxBehaviour, SecondWindowLimiter } from './behaviour.ts';
import type { ReceivedStore } from './received-store.ts';

export interface TelegramModeDeps {
  /** The bot token clients must put in the path: /bot<token>/sendMessage. */
  readonly botToken: string;
  readonly behaviour: SandboxBehaviour;
  readonly limiter: SecondWindowLimiter;
  readonly received: ReceivedStore;
  readonly nextRequestSeq: () => number;
}

/** Test controls at /_sandbox/telegram: chats that do not exist or blocked the bot. */
interface TelegramControls {
  missing_chats: string[];
  blocked_chats: string[];
  requests: number;
}

/** The Bot API's answer to a failed request: `{ok: false, error_code, description[, parameters]}`. */
function fail(res: Response, code: number, description: string, parameters?: Record<string, unknown>): void {
  res.status(code).json({ ok: false, error_code: code, description, ...(parameters === undefined ? {} : { parameters }) });
}

/**
 * Telegram Bot API `POST /bot<token>/sendMessage` as its documentation describes it:
 * JSON `{chat_id, text}`, one message per request, answers `{ok: true, result: Message}`
 * or `{ok: false, error_code, description}` with the same HTTP status; flood control
 * answers 429 with `parameters.retry_after` (behaviour.rate_per_second). An unknown
 * token is 401 Unauthorized, as the real API answers.
 */
export function telegramRoutes(deps: TelegramModeDeps): Router {
  const controls: TelegramControls = { missing_chats: [], blocked_chats: [], requests: 0 };
  const messageIds = new Map<string, number>();
  const router = express.Router();
  router.post('/:bot/sendMessage', async (req: Request, res: Response) => {
    controls.requests += 1;
    if (req.params['bot'] !== `bot${deps.botToken}`) {
      fail(res, 401, 'Unauthorized');
      return;
    }
    const body = (req.body ?? {}) as { chat_id?: unknown; text?: unknown };
    const chatId = typeof body.chat_id === 'number' ? String(body.chat_id) : body.chat_id;
    if (typeof chatId !== 'string' || chatId === '') {
      fail(res, 400, 'Bad Request: chat_id is empty');
      return;
    }
    if (typeof body.text !== 'string' || body.text.trim() === '') {
      fail(res, 400, 'Bad Request: message text is empty');
      return;
    }
    if (body.text.length > 4096) {
      fail(res, 400, 'Bad Request: message is too long');
      return;
    }
    if (deps.behaviour.latency_ms > 0) await sleep(deps.behaviour.latency_ms);
    if (res.destroyed || req.socket.destroyed) return;
    if (deps.behaviour.error_rate > 0 && Math.random() < deps.behaviour.error_rate) {
      fail(res, 502, 'Bad Gateway');
      return;
    }
    const wait = deps.limiter.take(1, deps.behaviour.rate_per_second);
    if (wait > 0) {
      fail(res, 429, `Too Many Requests: retry after ${wait}`, { retry_after: wait });
      return;
    }
    if (controls.missing_chats.includes(chatId)) {
      fail(res, 400, 'Bad Request: chat not found');
      return;
    }
    if (controls.blocked_chats.includes(chatId)) {
      fail(res, 403, 'Forbidden: bot was blocked by the user');
      return;
    }
    const messageId = (messageIds.get(chatId) ?? 0) + 1;
    messageIds.set(chatId, messageId);
    const date = Math.floor(Date.now() / 1000);
    deps.received.add([
      {
        message_id: `${chatId}:${messageId}`,
        client_ref: undefined,
        to: chatId,
        text: body.text,
        sender: undefined,
        received_at: Date.now(),
        request_seq: deps.nextRequestSeq(),
      },
    ]);
    res.json({
      ok: true,
      result: {
        message_id: messageId,
        from: { id: 100000001, is_bot: true, first_name: 'Sandbox', username: 'sandbox_bot' },
        chat: { id: Number.isNaN(Number(chatId)) ? chatId : Number(chatId), type: 'private' },
        date,
        text: body.text,
      },
    });
  });

  router.get('/_sandbox/telegram', (_req, res) => {
    res.json(controls);
  });
  router.put('/_sandbox/telegram', (req, res) => {
    const update = (req.body ?? {}) as Record<string, unknown>;
    for (const key of ['missing_chats', 'blocked_chats'] as const) {
      const value = update[key];
      if (value === undefined) continue;
      if (!Array.isArray(value) || !value.every((chat) => typeof chat === 'string')) {
        res.status(422).json({ error: { code: 'validation_failed', message: `/${key}: a list of chat ids` } });
        return;
      }
      controls[key] = value;
    }
    res.json(controls);
  });
  return router;
}
