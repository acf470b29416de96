/**
 * Fitting a conversation into the model's context window: when the rendered conversation plus the
 * room kept for the answer exceeds the window, the oldest turns go first (system messages stay), and
 * the caller is told how many were dropped. A conversation whose last message alone does not fit is
 * refused.
 *
 * Near-linear: a conversation about the window's size is rendered whole and usually fits. A longer
 * one: the last turn is rendered first (a last message that alone does not fit is refused at
 * once), each message is tokenised once on its own to estimate its share, and the estimate picks
 * where to cut; renders of the candidate then confirm it (about two, at most O(log n) when the
 * estimate is off). The whole conversation is rendered only when its content could fit, since one
 * render is one step that cannot be interrupted. Between steps it checks
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

/**
 * A conversation of up to this many characters per budget token is rendered whole at once (a
 * token is rarely longer); a longer one is counted message by message first, so that it is never
 * rendered whole when it cannot fit.
 */
const CHEAP_RENDER_CHARS_PER_TOKEN = 8;

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

  // A conversation about the window's size is rendered whole first: one exact answer, usually yes.
  let chars = 0;
  for (const m of messages) chars += m.content.length;
  if (chars <= budgetTokens * CHEAP_RENDER_CHARS_PER_TOKEN && (await fits(0))) return result(0);

  const last = starts.length - 1;
  // Then the last turn alone: a huge last message is measured by one render and refused, before
  // anything else is counted.
  if (!(await fits(last))) {
    throw new EdgetierError(
      'context_overflow',
      `The last message alone needs ${await render(last)} tokens but only ${budgetTokens} fit in this model's ` +
        'context window (after the room kept for the answer). Shorten the message or lower max new tokens.',
    );
  }
  if (last === 0) return result(0);

  // Estimate: each message's content on its own, plus an even share of the template's framing
  // (measured on the last turn's render).
  const cost: number[] = [];
  let contentTokens = 0;
  let systemTokens = 0;
  for (let i = 0; i < messages.length; i++) {
    if (i % MESSAGES_PER_YIELD === 0) await checkpoint();
    const tokens = counter.countMessage(messages[i]!);
    contentTokens += tokens;
    if (messages[i]!.role === 'system') systemTokens += tokens;
    else cost.push(tokens);
  }
  // The whole conversation is rendered (one step that cannot be stopped) only when its content
  // could fit; a long conversation is never rendered whole.
  if (contentTokens <= budgetTokens && !exact.has(0) && (await fits(0))) return result(0);
  let lastContent = systemTokens;
  for (let turn = starts[last]!; turn < turns.length; turn++) lastContent += cost[turn]!;
  const lastMessages = system.length + turns.length - starts[last]!;
  const framing = Math.max(0, (await render(last)) - lastContent) / lastMessages;
  const total = contentTokens + framing * messages.length;
  let removed = 0;
  let guess = last;
  for (let index = 1, turn = 0; index <= last; index++) {
    for (; turn < starts[index]!; turn++) removed += cost[turn]! + framing;
    if (total - removed <= budgetTokens) {
      guess = index;
      break;
    }
  }

  // Find the first start that fits, trusting that a shorter conversation never renders longer:
  // gallop from the guess, then bisect. The last start fits (checked above).
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
    // Everything from the second start fits: whether the first does too is a render away.
    if (lo === 0 && !exact.has(0) && (await fits(0))) return result(0);
  } else {
    lo = guess;
    let step = 1;
    hi = Math.min(last, guess + step);
    while (!(await fits(hi))) {
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
