import { describe, expect, it } from 'vitest';
import { MAX_EVENT_CHARS, readSseEvents, SseEventTooLargeError, SseParser } from '../../src/remote/sse.ts';

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

  it('reads each character once: a long line arriving in small pieces is not rescanned per piece', () => {
    const parser = new SseParser();
    const line = `data: ${'x'.repeat(256 * 1024)}\n\n`;
    const events = [];
    for (let i = 0; i < line.length; i += 64) events.push(...parser.push(line.slice(i, i + 64)));
    expect(events).toEqual([{ event: 'message', data: 'x'.repeat(256 * 1024) }]);
    // Rescanning the held line for every piece reads ~ n²/128 characters (512 million here).
    expect(parser.scannedChars).toBe(line.length);
  });

  it('refuses an event that grows past MAX_EVENT_CHARS without ending, by name', () => {
    for (const unended of [
      `data: ${'x'.repeat(MAX_EVENT_CHARS)}`,
      'data: xxxxxxxx\n'.repeat(MAX_EVENT_CHARS / 8),
    ]) {
      const parser = new SseParser();
      let error: unknown;
      try {
        for (let i = 0; i < unended.length; i += 1 << 20) parser.push(unended.slice(i, i + (1 << 20)));
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(SseEventTooLargeError);
      expect((error as Error).message).toBe(
        `The event stream sent an event of more than ${MAX_EVENT_CHARS} characters without ending it.`,
      );
    }
    // One just under the limit is read.
    const parser = new SseParser();
    expect(parser.push(`data: ${'y'.repeat(MAX_EVENT_CHARS - 16)}\n\n`)[0]?.data.length).toBe(
      MAX_EVENT_CHARS - 16,
    );
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
