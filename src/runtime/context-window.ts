/**
 * Fitting a conversation into the model's context window: when the rendered conversation plus the
 * room kept for the answer exceeds the window, the oldest turns go first (system messages stay), and
 * the caller is told how many were dropped. A conversation whose last message alone does not fit is
 * refused.
 */
import type { ChatMessage } from '../core/engine.ts';
import { EdgetierError } from '../core/errors.ts';

export interface FittedConversation {
  messages: ChatMessage[];
  /** Number of messages removed from the start of the conversation. */
  dropped: number;
  /** Token count of the rendered, fitted conversation. */
  promptTokens: number;
}

/**
 * @param countTokens renders messages through the chat template and counts the tokens.
 * @param budgetTokens the most prompt tokens allowed (context window minus the answer's room).
 */
export function fitConversation(
  messages: readonly ChatMessage[],
  countTokens: (messages: ChatMessage[]) => number,
  budgetTokens: number,
): FittedConversation {
  const system = messages.filter((m) => m.role === 'system');
  let turns = messages.filter((m) => m.role !== 'system');
  let dropped = 0;
  for (;;) {
    // Keep the original order: system messages were at the start in every template we support.
    const candidate = [...system, ...turns];
    const promptTokens = countTokens(candidate);
    if (promptTokens <= budgetTokens) return { messages: candidate, dropped, promptTokens };
    if (turns.length <= 1) {
      throw new EdgetierError(
        'context_overflow',
        `The last message alone needs ${promptTokens} tokens but only ${budgetTokens} fit in this model's ` +
          'context window (after the room kept for the answer). Shorten the message or lower max new tokens.',
      );
    }
    turns = turns.slice(1);
    dropped++;
    // Chat templates expect a user turn first: drop an assistant turn left at the front.
    while (turns.length > 1 && turns[0]!.role === 'assistant') {
      turns = turns.slice(1);
      dropped++;
    }
  }
}
