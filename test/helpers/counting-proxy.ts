/**
 * An HTTP proxy on 127.0.0.1 in front of a real server (`edgetier serve`) that records every
 * request (method, path, Range, status, body bytes actually sent) and can misbehave on purpose for
 * one path: cut a response after some bytes and refuse the next requests until healed, or stall a
 * response after some bytes until released. Tests count what the browser really re-requested.
 */
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxiedRequest {
  method: string;
  path: string;
  range: string | null;
  status: number;
  /** Body bytes sent to the browser (0 until the response ends or is cut). */
  bytes: number;
  done: boolean;
}

interface Fault {
  path: string;
  afterBytes: number;
  kind: 'cut' | 'stall';
  /** Cut: the first response was cut; later ones are refused until healed. */
  tripped: boolean;
  release?: () => void;
  reached?: Promise<void>;
  onReached?: () => void;
}

export interface CountingProxy {
  url: string;
  log: ProxiedRequest[];
  /** Requests for `path` since `from` (an index into `log`). */
  requestsFor(path: string, from?: number): ProxiedRequest[];
  /** Cuts the next response for `path` after `afterBytes`, then refuses requests for it until `heal()`. */
  cut(path: string, afterBytes: number): void;
  /** Holds the next response for `path` after `afterBytes`; resolves once that point is reached. */
  stall(path: string, afterBytes: number): { reached: Promise<void>; release: () => void };
  /** Flips one byte in the middle of the next `times` full responses for `path` (a bad network or disk). */
  corrupt(path: string, times: number): void;
  /** Drops every request whose path starts with `prefix` (as if the network were down) until `heal()`. */
  refuse(prefix: string): void;
  heal(): void;
  close(): Promise<void>;
}

export async function startCountingProxy(target: string): Promise<CountingProxy> {
  const upstream = new URL(target);
  const log: ProxiedRequest[] = [];
  let fault: Fault | null = null;
  let refused: string | null = null;
  let corruption: { path: string; left: number } | null = null;

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
    if (active?.kind === 'cut' && active.tripped) {
      entry.status = -1;
      entry.done = true;
      req.socket.destroy();
      return;
    }
    const forward = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: upstream.host },
      },
      (reply) => {
        entry.status = reply.statusCode ?? 0;
        const size = Number(reply.headers['content-length'] ?? 0);
        const flipAt =
          corruption && corruption.path === path && corruption.left > 0 && entry.status === 200 && size > 1
            ? Math.floor(size / 2)
            : -1;
        if (flipAt >= 0 && corruption) corruption.left--;
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
            if (active.kind === 'cut') {
              active.tripped = true;
              fault = active;
              // Stop reading upstream, send the bytes up to the cut, then drop the connection.
              reply.pause();
              reply.removeAllListeners('data');
              reply.removeAllListeners('error');
              reply.on('error', () => undefined);
              res.write(head, () => {
                entry.done = true;
                res.socket?.destroy();
                reply.destroy();
              });
              return;
            }
            stalled = true;
            reply.pause();
            res.write(head);
            active.onReached?.();
            active.release = () => {
              entry.bytes += rest.length;
              res.write(rest);
              reply.resume();
            };
            fault = null;
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
    cut(path, afterBytes) {
      fault = { path, afterBytes, kind: 'cut', tripped: false };
    },
    stall(path, afterBytes) {
      let onReached: () => void = () => undefined;
      const reached = new Promise<void>((resolve) => {
        onReached = resolve;
      });
      const active: Fault = { path, afterBytes, kind: 'stall', tripped: false, onReached };
      fault = active;
      return { reached, release: () => active.release?.() };
    },
    corrupt(path, times) {
      corruption = { path, left: times };
    },
    refuse(prefix) {
      refused = prefix;
    },
    heal() {
      fault = null;
      refused = null;
      corruption = null;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
