/**
 * Streamed text that adds up to the final text. Decoding a prefix of the tokens does not give a
 * prefix of the text: `clean_up_tokenization_spaces` (Llama 3) turns "Hello" " " "." into "Hello.",
 * a byte-level token can end half-way through a UTF-8 character, SentencePiece-style decoders strip
 * the first space. So only text that can no longer change is handed out, and the rest once the
 * tokens are complete.
 *
 * Incremental: the tokens before an anchor are final and handed out; each new token re-decodes only
 * the window after the anchor, with a few tokens before it as context (their text is cut off again),
 * so a token costs O(window), not O(answer). When that decode does not extend the context's own
 * text (a cleanup or a character across the anchor), the whole answer is decoded once instead.
 */

/**
 * How far back from its end a new token can change cleaned-up text. transformers.js's
 * clean_up_tokenization replaces, in order, " ." " ?" " !" " ," " ' " " n't" " 'm" " 's" " 've" " 're"
 * (each loses its space): the next token can complete one of these (up to 4 characters), or take the
 * space of one already applied (" ' " then "?" reads " '?").
 */
const CLEANUP_REACH = 4;

/** Context tokens decoded before the window and cut off again. */
const CONTEXT_TOKENS = 4;
/** The anchor moves up once the window holds this many tokens. */
const WINDOW_TOKENS = 16;

/** Characters at the end of `text` that a later token may still change. */
function unsettledLength(text: string, cleanup: boolean): number {
  let held = 0;
  // Half a UTF-8 sequence decodes to U+FFFD until the rest arrives.
  while (held < text.length && text.charCodeAt(text.length - 1 - held) === 0xfffd) held++;
  return cleanup ? Math.min(text.length, held + CLEANUP_REACH) : held;
}

export class TextStream {
  private readonly ids: number[] = [];
  /** Tokens before this index are final: their text is `anchorChars` characters, all taken. */
  private anchor = 0;
  private anchorChars = 0;
  /** Text of the context tokens before the anchor, as decoded on their own. */
  private context = '';
  /** Text of ids[anchor:], as it reads after the anchor's text. */
  private tail = '';
  /** Characters handed out so far (from the start of the text). */
  private takenChars = 0;
  /** Whole-answer decodes done because the window could not be trusted (for tests). */
  fullDecodes = 0;

  /**
   * @param decode the tokenizer's decode of a list of ids.
   * @param cleanup whether `decode` cleans up tokenization spaces (the tokenizer's
   *   `clean_up_tokenization_spaces`, which transformers.js turns on when the config does not say).
   */
  constructor(
    private readonly decode: (ids: number[]) => string,
    private readonly cleanup: boolean,
  ) {}

  /** Characters handed out so far. */
  get taken(): number {
    return this.takenChars;
  }

  /** The text after what was handed out, as it reads now (its end may still change). */
  get pending(): string {
    return this.tail.slice(this.takenChars - this.anchorChars);
  }

  /** How many characters of `pending` can no longer change. */
  get settled(): number {
    const settledTail = this.tail.length - unsettledLength(this.tail, this.cleanup);
    return Math.max(0, settledTail - (this.takenChars - this.anchorChars));
  }

  push(id: number): void {
    this.ids.push(id);
    this.tail = this.decodeAfter(this.anchor, this.ids.length);
  }

  /** Marks the first `count` characters of `pending` as handed out; they must be settled. */
  take(count: number): void {
    this.takenChars += Math.min(count, this.settled);
    this.moveAnchor();
  }

  /** The final text: every token decoded at once. */
  finish(): string {
    return this.ids.length === 0 ? '' : this.decode(this.ids);
  }

  /** Text of ids[from:to] as it reads after the text of ids[:from], or the whole decode's slice. */
  private decodeAfter(from: number, to: number): string {
    if (from === this.anchor) {
      const start = Math.max(0, from - CONTEXT_TOKENS);
      const window = this.decode(this.ids.slice(start, to));
      if (window.startsWith(this.context)) return window.slice(this.context.length);
    }
    this.fullDecodes++;
    const whole = this.decode(this.ids.slice(0, to));
    return whole.slice(this.anchorChars);
  }

  /** Moves the anchor up over tokens whose text is final and handed out, keeping the window short. */
  private moveAnchor(): void {
    if (this.ids.length - this.anchor < WINDOW_TOKENS) return;
    const next = this.ids.length - CONTEXT_TOKENS;
    const segment = this.decodeAfter(this.anchor, next);
    const segmentEnd = this.anchorChars + segment.length;
    // The anchor's text must be a settled, handed-out prefix of what follows it.
    if (!this.tail.startsWith(segment) || segmentEnd > this.takenChars) return;
    const context = this.decode(this.ids.slice(Math.max(0, next - CONTEXT_TOKENS), next));
    const check = this.decode(this.ids.slice(Math.max(0, next - CONTEXT_TOKENS)));
    if (!check.startsWith(context) || check.slice(context.length) !== this.tail.slice(segment.length)) return;
    this.anchor = next;
    this.anchorChars = segmentEnd;
    this.context = context;
    this.tail = this.tail.slice(segment.length);
  }
}
