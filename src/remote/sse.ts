/**
 * An incremental parser for Server-Sent Events, following the WHATWG event-stream rules: lines end
 * in LF, CRLF or a lone CR (even when the CR and the LF arrive in different chunks); a blank line
 * dispatches the event; `data:` lines accumulate, joined by LF; lines starting with `:` are comments
 * (keep-alives); one optional space after the colon is dropped. Feed it decoded text in whatever
 * pieces the network delivers; it returns the events completed so far.
 */
export interface SseEvent {
  /** `event:` field; "message" when absent. */
  event: string;
  data: string;
  /** `id:` field, when the event set one. */
  id?: string;
  /** `retry:` field in milliseconds, when the event set one. */
  retryMs?: number;
}

/**
 * The most characters one event may hold (its data and the line still open) before it ends: no
 * OpenAI-compatible chunk comes close, and a stream that never ends a line or an event would
 * otherwise grow without bound.
 */
export const MAX_EVENT_CHARS = 16 * 1024 * 1024;

/** An event grew past MAX_EVENT_CHARS without ending. */
export class SseEventTooLargeError extends Error {
  override name = 'SseEventTooLargeError' as const;
}

export class SseParser {
  /** The line not ended yet, in the pieces it arrived in (joined once, when it ends). */
  private open: string[] = [];
  private openChars = 0;
  /** The previous chunk ended in CR: an LF at the start of the next one belongs to it. */
  private pendingCr = false;
  private data: string[] = [];
  private dataChars = 0;
  private hasData = false;
  private eventType = '';
  private id: string | undefined;
  private retryMs: number | undefined;
  /** Comment lines seen so far (keep-alives); a caller may count them, never needs them. */
  comments = 0;
  /** Characters read so far: each is read once, whatever the pieces (for tests). */
  scannedChars = 0;

  /** Adds decoded text; returns the events it completed. */
  push(text: string): SseEvent[] {
    // An empty piece (an empty network chunk) must not forget a CR that waits for its LF.
    if (text === '') return [];
    if (this.pendingCr && text.startsWith('\n')) text = text.slice(1);
    this.pendingCr = false;
    this.scannedChars += text.length;
    const events: SseEvent[] = [];
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      let line = text.slice(start, i);
      if (this.open.length > 0) {
        line = this.open.join('') + line;
        this.open = [];
        this.openChars = 0;
      }
      if (c === 13) {
        if (i + 1 < text.length) {
          if (text.charCodeAt(i + 1) === 10) i++;
        } else {
          this.pendingCr = true;
        }
      }
      start = i + 1;
      const event = this.line(line);
      if (event) events.push(event);
    }
    if (start < text.length) {
      this.open.push(text.slice(start));
      this.openChars += text.length - start;
    }
    this.checkSize();
    return events;
  }

  /**
   * The stream ended. Per the spec an event without its closing blank line is dropped; an
   * unterminated last line is still processed as a line first.
   */
  end(): SseEvent[] {
    if (this.open.length > 0) {
      this.line(this.open.join(''));
      this.open = [];
      this.openChars = 0;
    }
    this.reset();
    return [];
  }

  private line(line: string): SseEvent | null {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) {
      this.comments++;
      return null;
    }
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        this.data.push(value);
        this.dataChars += value.length + 1;
        this.hasData = true;
        this.checkSize();
        break;
      case 'event':
        this.eventType = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.id = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retryMs = Number(value);
        break;
      default:
        // Unknown fields are ignored, as the spec says.
        break;
    }
    return null;
  }

  private dispatch(): SseEvent | null {
    if (!this.hasData) {
      this.eventType = '';
      return null;
    }
    const event: SseEvent = { event: this.eventType || 'message', data: this.data.join('\n') };
    if (this.id !== undefined) event.id = this.id;
    if (this.retryMs !== undefined) event.retryMs = this.retryMs;
    this.reset();
    return event;
  }

  private checkSize(): void {
    if (this.dataChars + this.openChars > MAX_EVENT_CHARS) {
      throw new SseEventTooLargeError(
        `The event stream sent an event of more than ${MAX_EVENT_CHARS} characters without ending it.`,
      );
    }
  }

  private reset(): void {
    this.data = [];
    this.dataChars = 0;
    this.hasData = false;
    this.eventType = '';
    this.retryMs = undefined;
  }
}

/** Reads a byte stream as SSE events, decoding UTF-8 across chunk borders. */
export async function* readSseEvents(
  body: ReadableStream<Uint8Array>,
  parser = new SseParser(),
): AsyncGenerator<SseEvent, void, undefined> {
  const decoder = new TextDecoder();
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      yield* parser.push(decoder.decode(value, { stream: true }));
    }
    yield* parser.push(decoder.decode());
    parser.end();
  } finally {
    reader.releaseLock();
  }
}
