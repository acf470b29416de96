/**
 * Splits a model's output into its reasoning (inside `<think>…</think>`) and its answer, both at once
 * on a finished text and incrementally while tokens stream, with the same result either way:
 * concatenating every streamed piece gives exactly what `split` returns for the whole text.
 *
 * Whitespace rules (so that streaming and the final split agree): the reasoning is trimmed at both
 * ends, and the answer loses the whitespace right after `</think>`.
 */
export const THINK_OPEN = '<think>';
export const THINK_CLOSE = '</think>';

export interface SplitText {
  text: string;
  reasoning: string;
}

export class ThinkSplitter {
  private mode: 'answer' | 'reasoning';
  /** Text received but not yet emitted: a possible partial tag, or reasoning's trailing whitespace. */
  private pending = '';
  /** At the start of a section, leading whitespace is dropped. */
  private skipLeadingWhitespace: boolean;

  /** `startInReasoning`: the prompt already opened a `<think>` block (some templates do). */
  constructor(startInReasoning = false) {
    this.mode = startInReasoning ? 'reasoning' : 'answer';
    this.skipLeadingWhitespace = startInReasoning;
  }

  /** Feeds more decoded text; returns what can be shown now. */
  push(piece: string): SplitText {
    this.pending += piece;
    return this.drain(false);
  }

  /** Ends the stream: emits everything still held back. */
  flush(): SplitText {
    return this.drain(true);
  }

  /** Splits a whole text at once. */
  static split(whole: string, startInReasoning = false): SplitText {
    const splitter = new ThinkSplitter(startInReasoning);
    const a = splitter.push(whole);
    const b = splitter.flush();
    return { text: a.text + b.text, reasoning: a.reasoning + b.reasoning };
  }

  private drain(final: boolean): SplitText {
    const out: SplitText = { text: '', reasoning: '' };
    for (;;) {
      if (this.skipLeadingWhitespace) {
        const trimmed = this.pending.replace(/^\s+/, '');
        this.pending = trimmed;
        if (!trimmed) break;
        this.skipLeadingWhitespace = false;
      }
      const tag = this.mode === 'answer' ? THINK_OPEN : THINK_CLOSE;
      const at = this.pending.indexOf(tag);
      if (at >= 0) {
        this.emit(
          out,
          this.mode === 'reasoning' ? this.pending.slice(0, at).trimEnd() : this.pending.slice(0, at),
        );
        this.pending = this.pending.slice(at + tag.length);
        this.mode = this.mode === 'answer' ? 'reasoning' : 'answer';
        this.skipLeadingWhitespace = true;
        continue;
      }
      if (final) {
        this.emit(out, this.mode === 'reasoning' ? this.pending.trimEnd() : this.pending);
        this.pending = '';
        break;
      }
      // Hold back what may be the start of the tag, and in reasoning any trailing whitespace (it is
      // dropped if `</think>` follows).
      let keep = partialSuffix(this.pending, tag);
      if (this.mode === 'reasoning') {
        const body = this.pending.slice(0, this.pending.length - keep);
        keep += body.length - body.trimEnd().length;
      }
      this.emit(out, this.pending.slice(0, this.pending.length - keep));
      this.pending = this.pending.slice(this.pending.length - keep);
      break;
    }
    return out;
  }

  private emit(out: SplitText, piece: string): void {
    if (this.mode === 'answer') out.text += piece;
    else out.reasoning += piece;
  }
}

/** Length of the longest proper prefix of `tag` that `text` ends with. */
function partialSuffix(text: string, tag: string): number {
  for (let n = Math.min(tag.length - 1, text.length); n > 0; n--) {
    if (text.endsWith(tag.slice(0, n))) return n;
  }
  return 0;
}
