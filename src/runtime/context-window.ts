/**
 * Fitting a conversation into the model's context window: when the rendered conversation plus the
 * room kept for the answer exceeds the window, the oldest turns go first (system messages stay), and
 * the caller is told how many were dropped. A conversation whose last message alone does not fit is
 * refused.
 *
 * Near-linear: each message is tokenised once on its own to estimate its share, the whole
 * conversation is rendered once, and the estimate picks where to cut; renders of the candidate then
 * confirm it (about two, at most O(log n) when the estimate is off). Between steps it checks
 * `shouldStop` and yields to the event loop, so an interrupt that arrives while a long conversation
 * is fitted ends the request.
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

export interface ConversationCounter {
  /** Tokens of one message's content on its own: an estimate of its share of the rendered prompt. */
  countMessage(message: ChatMessage): number;
  /** Renders messages through the chat template and counts the tokens: the exact figure. */
  countConversation(messages: ChatMessage[]): number | Promise<number>;
}

export interface FitOptions {
  /** Checked between steps; true ends the fit with an `aborted` error. */
  shouldStop?: () => boolean;
}

/** Messages counted between two yields to the event loop. */
const MESSAGES_PER_YIELD = 64;

const yieldToEventLoop = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/**
 * @param budgetTokens the most prompt tokens allowed (context window minus the answer's room).
 */
export async function fitConversation(
  messages: readonly ChatMessage[],
  counter: ConversationCounter,
  budgetTokens: number,
  options: FitOptions = {},
): Promise<FittedConversation> {
  const checkpoint = async () => {
    await yieldToEventLoop();
    if (options.shouldStop?.()) {
      throw new EdgetierError('aborted', 'Stopped while fitting the conversation into the context window.');
    }
  };
  // Keep the original order: system messages were at the start in every template we support.
  const system = messages.filter((m) => m.role === 'system');
  const turns = messages.filter((m) => m.role !== 'system');
  const candidate = (start: number) => [...system, ...turns.slice(start)];

  // Where the conversation may start: the first turn, then after each dropped turn, skipping an
  // assistant turn left at the front (chat templates expect a user turn first), down to the last turn.
  const starts = [0];
  for (let s = 0; turns.length - s > 1; ) {
    s++;
    while (turns.length - s > 1 && turns[s]!.role === 'assistant') s++;
    starts.push(s);
  }

  const exact = new Map<number, number>();
  const render = async (index: number): Promise<number> => {
    let tokens = exact.get(index);
    if (tokens === undefined) {
      await checkpoint();
      tokens = await counter.countConversation(candidate(starts[index]!));
      exact.set(index, tokens);
    }
    return tokens;
  };
  const fits = async (index: number) => (await render(index)) <= budgetTokens;
  const result = async (index: number): Promise<FittedConversation> => ({
    messages: candidate(starts[index]!),
    dropped: starts[index]!,
    promptTokens: await render(index),
  });

  if (await fits(0)) return result(0);
  const last = starts.length - 1;
  const refuse = async (): Promise<never> => {
    throw new EdgetierError(
      'context_overflow',
      `The last message alone needs ${await render(last)} tokens but only ${budgetTokens} fit in this model's ` +
        'context window (after the room kept for the answer). Shorten the message or lower max new tokens.',
    );
  };
  if (last === 0) return refuse();

  // Estimate: the whole render minus what each dropped turn is thought to take (its content's tokens
  // plus an even share of the template's framing).
  const cost: number[] = [];
  let contentTokens = 0;
  for (let i = 0; i < messages.length; i++) {
    if (i % MESSAGES_PER_YIELD === 0) await checkpoint();
    const tokens = counter.countMessage(messages[i]!);
    contentTokens += tokens;
    if (messages[i]!.role !== 'system') cost.push(tokens);
  }
  const framing = Math.max(0, (await render(0)) - contentTokens) / messages.length;
  let removed = 0;
  let guess = last;
  for (let index = 1, turn = 0; index <= last; index++) {
    for (; turn < starts[index]!; turn++) removed += cost[turn]! + framing;
    if ((await render(0)) - removed <= budgetTokens) {
      guess = index;
      break;
    }
  }

  // Find the first start that fits, trusting that a shorter conversation never renders longer:
  // gallop from the guess, then bisect.
  let lo: number; // does not fit
  let hi: number; // fits
  if (await fits(guess)) {
    hi = guess;
    let step = 1;
    lo = Math.max(0, guess - step);
    while (lo > 0 && (await fits(lo))) {
      hi = lo;
      step *= 2;
      lo = Math.max(0, hi - step);
    }
  } else {
    lo = guess;
    let step = 1;
    hi = Math.min(last, guess + step);
    while (!(await fits(hi))) {
      if (hi === last) return refuse();
      lo = hi;
      step *= 2;
      hi = Math.min(last, lo + step);
    }
  }
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (await fits(mid)) hi = mid;
    else lo = mid;
  }
  return result(hi);
}
