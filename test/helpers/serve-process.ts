/**
 * Spawns the real `edgetier serve` process (through bin/edgetier.mjs) on a free port and waits for
 * the URL it prints. Its stdout is kept so tests can check what it logs.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { SseParser } from '../../src/remote/sse.ts';

const bin = new URL('../../bin/edgetier.mjs', import.meta.url).pathname;

export interface ServeProcess {
  url: string;
  child: ChildProcess;
  output: () => string;
  /** Resident memory of the server process, from /proc. */
  rssBytes: () => number;
  /** Sends SIGTERM and resolves with the exit code. */
  stop: () => Promise<number | null>;
  /** Resolves with the exit code once the process has exited (sends nothing). */
  exited: Promise<number | null>;
}

export async function startServe(
  args: string[],
  env: Record<string, string> = {},
  command: 'serve' | 'start' = 'serve',
): Promise<ServeProcess> {
  const clean = { ...process.env };
  delete clean.EDGETIER_UPSTREAM_URL;
  delete clean.EDGETIER_UPSTREAM_KEY;
  delete clean.OPENAI_API_KEY;
  const child = spawn(process.execPath, [bin, command, '--port', '0', ...args], {
    env: { ...clean, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setInterval(() => {
      const match = /edgetier serve: (http:\/\/\S+)/.exec(output);
      if (match) {
        clearInterval(timer);
        resolve(match[1] as string);
      }
    }, 50);
    void exited.then((code) => {
      clearInterval(timer);
      reject(new Error(`edgetier serve exited with ${code} before printing its URL:\n${output}`));
    });
  });
  return {
    url,
    child,
    output: () => output,
    rssBytes: () => {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
    },
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
    exited,
  };
}

export interface SseReply {
  status: number;
  headers: Headers;
  /** `data:` payloads in order ([DONE] included as the string). */
  events: string[];
  /** Concatenated delta contents. */
  text: string;
  /** The body when the reply was not an event stream. */
  json?: { error?: { message: string; type: string; code: string | null; param: string | null } };
}

/** POSTs a chat request and reads the whole reply, splitting SSE events. */
export async function postChat(base: string, body: unknown, init: RequestInit = {}): Promise<SseReply> {
  const response = await fetch(`${base}v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
    ...init,
  });
  const raw = await response.text();
  if (!(response.headers.get('content-type') ?? '').includes('text/event-stream')) {
    return {
      status: response.status,
      headers: response.headers,
      events: [],
      text: '',
      json: JSON.parse(raw),
    };
  }
  const events = new SseParser().push(raw).map((e) => e.data);
  let text = '';
  for (const data of events) {
    if (data === '[DONE]') continue;
    const parsed = JSON.parse(data) as { choices?: { delta?: { content?: string } }[] };
    text += parsed.choices?.[0]?.delta?.content ?? '';
  }
  return { status: response.status, headers: response.headers, events, text };
}
