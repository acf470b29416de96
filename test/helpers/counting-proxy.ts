/**
 * An HTTP proxy on 127.0.0.1 in front of a real server (`edgetier serve`) that records every
 * request (method, path, Range, status, body bytes actually sent) and can misbehave on purpose for
 * one path: hold a response after some bytes (then release it, feed it a few bytes at a time, or drop
 * the connection), refuse requests as if the network were down, or flip a byte in transit. Tests count what the browser really re-requested.
 */
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';

export interface ProxiedRequest {
  method: string;
  path: string;
  range: string | null;
  status: number;
  /** Body bytes sent to the browser so far. */
  bytes: number;
  done: boolean;
}

interface Fault {
  path: string;
  afterBytes: number;
  release?: () => void;
  drip?: (bytes: number) => void;
  drop?: () => void;
  reached?: Promise<void>;
  onReached?: () => void;
}

export interface Stall {
  /** Resolves once the response is held. */
  reached: Promise<void>;
  /** Sends the rest of the response. */
  release(): void;
  /** Sends a few more bytes of the held response and holds it again. */
  drip(bytes: number): void;
  /** Drops the connection of the held response. */
  drop(): void;
}

export interface ModelIndexLike {
  url: string;
  files?: { path: string; bytes: number; sha256?: string }[];
}

export interface CountingProxy {
  url: string;
  log: ProxiedRequest[];
  /** Requests for `path` since `from` (an index into `log`). */
  requestsFor(path: string, from?: number): ProxiedRequest[];
  /** Holds the next response for `path` after `afterBytes`; resolves once that point is reached. */
  stall(path: string, afterBytes: number): Stall;
  /** Flips one byte in the middle of the next `times` full responses for `path` (a bad network or disk). */
  corrupt(path: string, times: number): void;
  /** Drops every request whose path starts with `prefix` (as if the network were down) until `heal()`. */
  refuse(prefix: string): void;
  /**
   * Gzips every full (200) response for `path` until `heal()`, as a CDN does: `length` keeps a
   * Content-Length (the compressed size), `chunked` sends none.
   */
  compress(path: string, framing: 'length' | 'chunked'): void;
  /** Serves /models/index.json edited by `edit` (an index that lies or is malformed), until `heal()`. */
  rewriteIndex(edit: (index: { models: ModelIndexLike[] }) => void): void;
  /**
   * Answers every Range request for `path` that does not start at byte 0 with the whole file as a
   * 206 whose Content-Range says so (a broken cache or proxy), until `heal()`.
   */
  misrange(path: string): void;
  /** Drops the connection of every response for `path` after `everyBytes` body bytes, until `heal()`. */
  chop(path: string, everyBytes: number): void;
  heal(): void;
  close(): Promise<void>;
}

export async function startCountingProxy(target: string): Promise<CountingProxy> {
  const upstream = new URL(target);
  const log: ProxiedRequest[] = [];
  let fault: Fault | null = null;
  let refused: string | null = null;
  let corruption: { path: string; left: number } | null = null;
  let compression: { path: string; framing: 'length' | 'chunked' } | null = null;
  let chopping: { path: string; everyBytes: number } | null = null;
  let misranged: string | null = null;
  let indexEdit: ((index: { models: ModelIndexLike[] }) => void) | null = null;

  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://proxy').pathname;
    const entry: ProxiedRequest = {
      method: req.method ?? 'GET',
      path,
      range: (req.headers.range as string | undefined) ?? null,
      status: 0,
      bytes: 0,
      done: false,
    };
    log.push(entry);
    if (refused !== null && path.startsWith(refused)) {
      entry.status = -1;
      entry.done = true;
      req.socket.destroy();
      return;
    }
    const active = fault && fault.path === path && entry.method === 'GET' ? fault : null;
    const forwarded: Record<string, string | string[] | undefined> = { ...req.headers, host: upstream.host };
    const wrongRange = misranged === path && entry.range !== null && !entry.range.startsWith('bytes=0-');
    if (wrongRange) {
      delete forwarded.range;
      delete forwarded['if-range'];
    }
    const forward = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: forwarded,
      },
      (reply) => {
        entry.status = reply.statusCode ?? 0;
        const size = Number(reply.headers['content-length'] ?? 0);
        const flipAt =
          corruption && corruption.path === path && corruption.left > 0 && entry.status === 200 && size > 1
            ? Math.floor(size / 2)
            : -1;
        if (flipAt >= 0 && corruption) corruption.left--;
        if (indexEdit && path === '/models/index.json' && entry.status === 200) {
          const edit = indexEdit;
          const chunks: Buffer[] = [];
          reply.on('data', (data: Buffer) => chunks.push(data));
          reply.on('end', () => {
            const index = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { models: ModelIndexLike[] };
            edit(index);
            const body = Buffer.from(JSON.stringify(index));
            const headers = { ...reply.headers, 'content-length': String(body.length) };
            delete headers.etag;
            res.writeHead(entry.status, headers);
            entry.bytes = body.length;
            entry.done = true;
            res.end(body);
          });
          return;
        }
        if (compression?.path === path && entry.status === 200 && entry.method === 'GET') {
          const framing = compression.framing;
          const chunks: Buffer[] = [];
          reply.on('data', (data: Buffer) => chunks.push(data));
          reply.on('end', () => {
            const body = gzipSync(Buffer.concat(chunks));
            const headers = { ...reply.headers, 'content-encoding': 'gzip' };
            delete headers['content-length'];
            delete headers['accept-ranges'];
            if (framing === 'length') headers['content-length'] = String(body.length);
            res.writeHead(entry.status, headers);
            entry.bytes = body.length;
            entry.done = true;
            res.end(body);
          });
          return;
        }
        const chop = chopping?.path === path && entry.method === 'GET' ? chopping.everyBytes : 0;
        if (wrongRange && entry.status === 200) {
          entry.status = 206;
          const size = Number(reply.headers['content-length']);
          reply.headers['content-range'] = `bytes 0-${size - 1}/${size}`;
        }
        res.writeHead(entry.status, reply.headers);
        let stalled = false;
        reply.on('data', (data: Buffer) => {
          if (flipAt >= entry.bytes && flipAt < entry.bytes + data.length) {
            data[flipAt - entry.bytes] = data[flipAt - entry.bytes]! ^ 0xff;
          }
          if (active && entry.status < 300 && entry.bytes + data.length >= active.afterBytes && !stalled) {
            const keep = active.afterBytes - entry.bytes;
            const head = data.subarray(0, keep);
            const rest = data.subarray(keep);
            entry.bytes += head.length;
            stalled = true;
            reply.pause();
            res.write(head);
            active.onReached?.();
            let left = rest;
            active.release = () => {
              entry.bytes += left.length;
              res.write(left);
              left = Buffer.alloc(0);
              reply.resume();
            };
            active.drip = (bytes) => {
              const next = left.subarray(0, bytes);
              left = left.subarray(next.length);
              entry.bytes += next.length;
              res.write(next);
            };
            active.drop = () => {
              reply.removeAllListeners('error');
              reply.on('error', () => undefined);
              entry.done = true;
              res.socket?.destroy();
              reply.destroy();
            };
            fault = null;
            return;
          }
          if (chop > 0 && entry.bytes + data.length >= chop) {
            res.write(data.subarray(0, chop - entry.bytes));
            entry.bytes = chop;
            reply.removeAllListeners('error');
            reply.on('error', () => undefined);
            entry.done = true;
            // Flushed first, so the browser sees the bytes before the connection fails.
            setTimeout(() => {
              res.socket?.destroy();
              reply.destroy();
            }, 50);
            reply.pause();
            return;
          }
          entry.bytes += data.length;
          res.write(data);
        });
        reply.on('end', () => {
          entry.done = true;
          res.end();
        });
        reply.on('error', () => res.destroy());
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/`,
    log,
    requestsFor: (path, from = 0) => log.slice(from).filter((r) => r.path === path && r.method === 'GET'),
    stall(path, afterBytes) {
      let onReached: () => void = () => undefined;
      const reached = new Promise<void>((resolve) => {
        onReached = resolve;
      });
      const active: Fault = { path, afterBytes, onReached };
      fault = active;
      return {
        reached,
        release: () => active.release?.(),
        drip: (bytes) => active.drip?.(bytes),
        drop: () => active.drop?.(),
      };
    },
    corrupt(path, times) {
      corruption = { path, left: times };
    },
    refuse(prefix) {
      refused = prefix;
    },
    compress(path, framing) {
      compression = { path, framing };
    },
    misrange(path) {
      misranged = path;
    },
    rewriteIndex(edit) {
      indexEdit = edit;
    },
    chop(path, everyBytes) {
      chopping = { path, everyBytes };
    },
    heal() {
      fault = null;
      refused = null;
      corruption = null;
      compression = null;
      chopping = null;
      indexEdit = null;
      misranged = null;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
