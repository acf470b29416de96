/**
 * Real web servers that are not edgetier, for the static site's tests:
 * - Python's `http.server`, which cannot send COOP/COEP (the service worker must isolate the page);
 * - Debian's nginx with a config the test writes (COOP/COEP on every response), run in the
 *   foreground as a child process with its own prefix folder, on a free 127.0.0.1 port.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface StaticServer {
  url: string;
  output: () => string;
  stop: () => Promise<void>;
}

export const NGINX = '/usr/sbin/nginx';
/** python3 from PATH (pyenv shims on some machines), else Debian's. */
export const PYTHON =
  ['/root/.pyenv/shims/python3', '/usr/bin/python3'].find((p) => existsSync(p)) ?? 'python3';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once `url` answers (any status), or rejects with the server's output after 20 s. */
async function waitForHttp(url: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited (${child.exitCode}): ${output()}`);
    try {
      await fetch(url, { method: 'HEAD' });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`server at ${url} did not answer in 20 s: ${output()}`);
}

function spawnServer(command: string, args: string[]): { child: ChildProcess; output: () => string } {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout?.on('data', (d: Buffer) => {
    text += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    text += d.toString();
  });
  return { child, output: () => text };
}

function stopper(child: ChildProcess, cleanup: () => void = () => {}): () => Promise<void> {
  return async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    cleanup();
  };
}

/** `python3 -m http.server` serving `dir` on 127.0.0.1: no isolation headers at all. */
export async function startPythonServer(dir: string): Promise<StaticServer> {
  const port = await freePort();
  const { child, output } = spawnServer(PYTHON, [
    '-m',
    'http.server',
    '--bind',
    '127.0.0.1',
    '--directory',
    dir,
    String(port),
  ]);
  const url = `http://127.0.0.1:${port}/`;
  await waitForHttp(url, child, output);
  return { url, output, stop: stopper(child) };
}

/** The nginx config the tests use; README's Deploy section shows the same headers. */
export function nginxConfig(root: string, port: number): string {
  return `daemon off;
master_process off;
worker_processes 1;
pid nginx.pid;
error_log stderr warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path tmp/body;
  proxy_temp_path tmp/proxy;
  fastcgi_temp_path tmp/fastcgi;
  uwsgi_temp_path tmp/uwsgi;
  scgi_temp_path tmp/scgi;
  types {
    text/html html;
    text/javascript js mjs;
    text/css css;
    application/json json;
    application/wasm wasm;
    application/manifest+json webmanifest;
    image/svg+xml svg;
    image/png png;
  }
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port};
    root ${root};
    add_header Cross-Origin-Opener-Policy same-origin always;
    add_header Cross-Origin-Embedder-Policy require-corp always;
    add_header Cross-Origin-Resource-Policy same-origin always;
    location = /sw.js { add_header Cache-Control no-cache; add_header Cross-Origin-Opener-Policy same-origin always; add_header Cross-Origin-Embedder-Policy require-corp always; add_header Cross-Origin-Resource-Policy same-origin always; }
  }
}
`;
}

/** Debian's nginx serving `dir` with COOP/COEP, in the foreground, from a prefix folder of its own. */
export async function startNginx(dir: string): Promise<StaticServer> {
  const prefix = mkdtempSync(join(tmpdir(), 'edgetier-nginx-'));
  mkdirSync(join(prefix, 'tmp'));
  const port = await freePort();
  writeFileSync(join(prefix, 'nginx.conf'), nginxConfig(dir, port));
  const { child, output } = spawnServer(NGINX, ['-p', `${prefix}/`, '-c', 'nginx.conf', '-e', 'stderr']);
  const url = `http://127.0.0.1:${port}/`;
  try {
    await waitForHttp(url, child, output);
  } catch (error) {
    child.kill('SIGTERM');
    rmSync(prefix, { recursive: true, force: true });
    throw error;
  }
  return { url, output, stop: stopper(child, () => rmSync(prefix, { recursive: true, force: true })) };
}
