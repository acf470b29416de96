import { describe, expect, it, vi } from 'vitest';
import { MAX_SSE_EVENT_CHARS, readSseEvents, SseParser } from '../../src/remote/sse.ts';
import { WireShapeError } from '../../src/remote/wire-checks.ts';

/** Feeds `text` to a fresh parser in pieces of `size` characters and collects every event. */
function parseIn(text: string, size: number) {
  const parser = new SseParser();
  const events = [];
  for (let i = 0; i < text.length; i += size) events.push(...parser.push(text.slice(i, i + size)));
  parser.end();
  return { events, comments: parser.comments };
}

describe('SseParser', () => {
  const stream =
    ': hello\r\n\r\ndata: one\r\n\r\nevent: note\rdata: two\rdata:  three\r\rid: 7\ndata:four\n\n';
  const expected = [
    { event: 'message', data: 'one' },
    { event: 'note', data: 'two\n three' },
    { event: 'message', data: 'four', id: '7' },
  ];

  it('handles LF, CRLF and lone CR line ends, comments, multi-line data and ids', () => {
    const { events, comments } = parseIn(stream, stream.length);
    expect(events).toEqual(expected);
    expect(comments).toBe(1);
  });

  it('gives the same events whatever the chunk borders (CR and LF split apart included)', () => {
    for (let size = 1; size <= 12; size++) expect(parseIn(stream, size).events).toEqual(expected);
  });

  it('drops an event whose closing blank line never came, and ignores unknown fields', () => {
    const { events } = parseIn('foo: bar\ndata: a\n\ndata: unfinished', 4);
    expect(events).toEqual([{ event: 'message', data: 'a' }]);
  });

  it('keeps empty data lines and a bare `data` field as empty strings', () => {
    expect(parseIn('data\ndata:\ndata: x\n\n', 100).events).toEqual([{ event: 'message', data: '\n\nx' }]);
  });

  it('reads retry and ignores a blank line with no data', () => {
    expect(parseIn('retry: 1500\n\nretry: 200\ndata: y\n\n', 100).events).toEqual([
      { event: 'message', data: 'y', retryMs: 200 },
    ]);
  });

  it('keeps a CR and its LF together when an empty chunk comes between them', () => {
    const parser = new SseParser();
    const events = [...parser.push('data: a\r'), ...parser.push(''), ...parser.push('\ndata: b\r\n\r\n')];
    expect(events).toEqual([{ event: 'message', data: 'a\nb' }]);
  });

  it('keeps CR and LF together when the byte stream delivers an empty chunk between them', async () => {
    const bytes = new TextEncoder().encode('data: a\r\ndata: é\r\n\r\n');
    const crAt = bytes.indexOf(13);
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes.subarray(0, crAt + 1));
        controller.enqueue(new Uint8Array(0));
        controller.enqueue(bytes.subarray(crAt + 1));
        controller.close();
      },
    });
    const events = [];
    for await (const event of readSseEvents(body)) events.push(event);
    expect(events).toEqual([{ event: 'message', data: 'a\né' }]);
  });

  it('decodes UTF-8 split across byte chunks', async () => {
    const bytes = new TextEncoder().encode('data: héllo ✓ 🙂\n\n');
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i++) controller.enqueue(bytes.subarray(i, i + 1));
        controller.close();
      },
    });
    const events = [];
    for await (const event of readSseEvents(body)) events.push(event);
    expect(events).toEqual([{ event: 'message', data: 'héllo ✓ 🙂' }]);
  });
});

describe('SseParser on a hostile stream', () => {
  // A tier that sends one line of many megabytes in network-sized pieces: each piece used to make
  // the parser scan the whole line again (8 MB in 64 KiB pieces: 11 s of a busy thread).
  it('looks at each character once, however the line is cut', () => {
    const parser = new SseParser();
    const piece = 'x'.repeat(200);
    const spy = vi.spyOn(String.prototype, 'charCodeAt');
    try {
      parser.push('data: ');
      for (let i = 0; i < 50; i++) parser.push(piece);
      expect(parser.push('\n\n')).toEqual([{ event: 'message', data: 'x'.repeat(10_000) }]);
      expect(spy.mock.calls.length).toBeLessThan(2 * 10_000);
    } finally {
      spy.mockRestore();
    }
  });

  it('refuses a line or an event past MAX_SSE_EVENT_CHARS, naming the limit', () => {
    const piece = 'x'.repeat(1024 * 1024);
    const oneLine = new SseParser();
    oneLine.push('data: ');
    const tooLong = `the event stream is over ${MAX_SSE_EVENT_CHARS} characters in one event, the most edgetier reads`;
    expect(() => {
      for (let i = 0; i <= MAX_SSE_EVENT_CHARS / piece.length; i++) oneLine.push(piece);
    }).toThrow(
      new WireShapeError(
        'the event stream',
        `is over ${MAX_SSE_EVENT_CHARS} characters in one event, the most edgetier reads`,
      ),
    );
    const manyLines = new SseParser();
    expect(() => {
      for (let i = 0; i <= MAX_SSE_EVENT_CHARS / piece.length; i++) manyLines.push(`data: ${piece}\n`);
    }).toThrow(tooLong);
  });
});
