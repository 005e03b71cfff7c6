import { currentStepIndex, stepContent, type QueuedMessage } from '@commstrat/core';
import type { Routing } from '@commstrat/config';
import type { LaneEntry } from '@commstrat/queue';

/**
 * The message as its current step's provider gets it: with the content for the step's
 * channel, or what its template rendered at intake. The same object when nothing differs
 * (most strategies), so sending costs no copy.
 */
export function messageToSend(entry: LaneEntry, routing: Routing): QueuedMessage {
  const { message } = entry;
  const step = currentStepIndex(message);
  if (message.content_by_channel === undefined && message.rendered_steps === undefined && routing.strategy.steps[step]?.content === undefined) return message;
  return { ...message, content: stepContent(message, routing.strategy, step) };
}
