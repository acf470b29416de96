/**
 * A hostile chat template through the real engine worker in Chromium: a model folder whose
 * tokenizer_config.json holds a template that loops 400 million times. The template renders in a
 * helper thread under a time budget: the request fails with `template_failed` naming the chat
 * template, and the engine worker, its loaded model and its queue carry on.
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
  it('is stopped by its time budget; the engine worker and its model survive', async () => {
    await engine.load({ source: { kind: 'path', path: looping }, device: 'wasm', dtype: 'fp32' });
    const e = await failureOf(engine.generate(chat));
    expect(e.code).toBe('template_failed');
    expect(e.message).toBe(
      "The model's chat template did not finish within 2 s, so it was stopped. " +
        "Fix or replace the chat_template in the model folder's tokenizer_config.json.",
    );
    // Same worker, same model: a plain prompt (no template) runs without a reload.
    const plain = await engine.generate({ prompt: 'hello', sampling: { maxNewTokens: 3 } });
    expect(plain.outputIds).toHaveLength(3);
    // And the next model loads and chats.
    await engine.load({ source: { kind: 'path', path: tiny }, device: 'wasm', dtype: 'fp32' });
    const next = await engine.generate(chat);
    expect(next.outputIds.length).toBeGreaterThan(0);
  });

  it('shows what the template raised as quoted, capped foreign text', async () => {
    const raising = join(dir, 'raising');
    cpSync(tiny, raising, { recursive: true });
    const configPath = join(raising, 'tokenizer_config.json');
    const config = JSON.parse(readFileSync(configPath, 'utf8'));
    const said = `Your key expired \u202Eevil\u202C. ${'x'.repeat(300)}`;
    writeFileSync(
      configPath,
      JSON.stringify({ ...config, chat_template: `{{ raise_exception("${said}") }}` }),
    );
    await engine.load({ source: { kind: 'path', path: raising }, device: 'wasm', dtype: 'fp32' });
    const e = await failureOf(engine.generate(chat));
    expect(e.code).toBe('template_failed');
    expect(e.message).toBe(
      `The model's chat template failed on this conversation; its own words: “Your key expired evil. ${'x'.repeat(177)}…”. ` +
        "Fix or replace the chat_template in the model folder's tokenizer_config.json.",
    );
  });

  it('still lets Stop end a request waiting on the template', async () => {
    await engine.load({ source: { kind: 'path', path: looping }, device: 'wasm', dtype: 'fp32' });
    const hung = failureOf(engine.generate(chat));
    await sleep(500);
    await engine.interrupt();
    const e = await hung;
    expect(['aborted', 'template_failed']).toContain(e.code);
    const plain = await engine.generate({ prompt: 'hello', sampling: { maxNewTokens: 3 } });
    expect(plain.outputIds).toHaveLength(3);
  });
});
