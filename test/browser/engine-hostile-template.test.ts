/**
 * A hostile chat template through the real engine worker in Chromium: a model folder whose
 * tokenizer_config.json holds a template that loops 400 million times. The worker is stuck in the
 * template and answers no message; Stop must still end the answer (the worker is terminated and
 * replaced), and a model change must still load the next model.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserEngine } from '../../src/cli/browser-engine.ts';
import { failureOf } from '../helpers/failure.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const LOOPING_TEMPLATE = '{% for i in range(20000) %}{% for j in range(20000) %}x{% endfor %}{% endfor %}';
let dir: string;
let tiny: string;
let looping: string;
let engine: BrowserEngine;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'edgetier-hostile-template-'));
  tiny = join(dir, 'tiny');
  execFileSync('node', [join(ROOT, 'bin/edgetier.mjs'), 'synth', 'tiny', '--out', tiny, '--dtype', 'fp32'], {
    stdio: 'ignore',
  });
  looping = join(dir, 'looping');
  cpSync(tiny, looping, { recursive: true });
  const configPath = join(looping, 'tokenizer_config.json');
  const config = JSON.parse(readFileSync(configPath, 'utf8'));
  writeFileSync(configPath, JSON.stringify({ ...config, chat_template: LOOPING_TEMPLATE }));
  engine = await BrowserEngine.start();
});

afterAll(async () => {
  await engine?.unload();
  rmSync(dir, { recursive: true, force: true });
});

const chat = { messages: [{ role: 'user' as const, content: 'hi' }], sampling: { maxNewTokens: 4 } };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a chat template that never ends', () => {
  it('is stopped by Stop: the worker is replaced and the answer fails with what happened', async () => {
    await engine.load({ source: { kind: 'path', path: looping }, device: 'wasm', dtype: 'fp32' });
    const hung = failureOf(engine.generate(chat));
    await sleep(1000); // inside the template by now
    await engine.interrupt();
    const e = await hung;
    expect(e.code).toBe('timeout');
    expect(e.message).toMatch(/^Stopped: the engine did not answer within 1 s .* so it was restarted\./);
  });

  it('does not block a model change: the next model loads and answers', async () => {
    await engine.load({ source: { kind: 'path', path: looping }, device: 'wasm', dtype: 'fp32' });
    const hung = failureOf(engine.generate(chat));
    await sleep(1000);
    // No Stop first: choosing another model is enough.
    await engine.load({ source: { kind: 'path', path: tiny }, device: 'wasm', dtype: 'fp32' });
    expect((await hung).code).toBe('timeout');
    const next = await engine.generate({ prompt: 'hello', sampling: { maxNewTokens: 3 } });
    expect(next.outputIds).toHaveLength(3);
  });
});
