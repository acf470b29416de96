/**
 * probeModel (workers/model-probe.ts) before any weight is downloaded: which dtypes a folder offers,
 * and whether edgetier wrote its graph (config.json's `edgetier` block, as convert/synth write it),
 * the fact that lets 'auto' plan q4 for edgetier's CPU engine (AUTO_ENGINE_PREFERS_Q4). Served by a
 * real HTTP server on 127.0.0.1, and from picked files.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { specToHfConfig } from '../../src/builder/hf-config.ts';
import { probeModel } from '../../workers/model-probe.ts';
import { TINY_SPECS } from '../helpers/onnx-fixtures.ts';

/** Folder name -> file path -> body; a missing file is a 404. */
const folders: Record<string, Record<string, string>> = {
  converted: {
    // A complete config (the engine would run it), so only the mark decides here.
    'config.json': JSON.stringify({
      ...specToHfConfig(TINY_SPECS['llama untied']!),
      edgetier: { synthetic: false, source: '/x' },
    }),
    'onnx/model_quantized.onnx': 'q8',
    'onnx/model_q4.onnx': 'q4!',
  },
  hub: {
    'config.json': JSON.stringify({ model_type: 'llama', 'transformers.js_config': {} }),
    'onnx/model_quantized.onnx': 'q8',
    'onnx/model_q4.onnx': 'q4!',
  },
  // Look-alikes: an `edgetier` key that is not the block convert/synth write ({synthetic: boolean, ...}).
  ...Object.fromEntries(
    [[], {}, 'yes', true, 1, { version: 2 }, { synthetic: 'no' }].map((edgetier, i) => [
      `lookalike${i}`,
      {
        'config.json': JSON.stringify({ model_type: 'llama', edgetier }),
        'onnx/model_quantized.onnx': 'q8',
        'onnx/model_q4.onnx': 'q4!',
      },
    ]),
  ),
  damaged: { 'config.json': '{"edgetier": ', 'onnx/model_q4.onnx': 'q4!' },
  nameless: { 'onnx/model_q4.onnx': 'q4!' },
};

let server: Server;
let origin: string;

beforeAll(async () => {
  server = createServer((request, response) => {
    const [, folder, ...rest] = new URL(request.url ?? '/', 'http://x').pathname.split('/');
    const body = folders[folder ?? '']?.[rest.join('/')];
    if (body === undefined) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-length': String(Buffer.byteLength(body)) });
    response.end(request.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((done) => server.close(() => done())));

const probe = (folder: string) => probeModel({ kind: 'url', url: `${origin}/${folder}/` }, origin, origin);

describe('probeModel', () => {
  it("marks a folder whose config.json has edgetier's block as the CPU engine's graph", async () => {
    expect(await probe('converted')).toEqual({
      dtypes: ['q8', 'q4'],
      bytesByDtype: { q8: 2, q4: 3 },
      engineGraph: true,
    });
  });

  it('leaves a Hub export, a damaged config.json and a folder without one to ONNX Runtime', async () => {
    expect((await probe('hub')).engineGraph).toBe(false);
    expect(await probe('damaged')).toMatchObject({ dtypes: ['q4'], engineGraph: false });
    expect(await probe('nameless')).toMatchObject({ dtypes: ['q4'], engineGraph: false });
  });

  it("leaves look-alike marks (an array, {}, a string, true, another tool's object) to ONNX Runtime", async () => {
    for (let i = 0; i < 7; i++)
      expect((await probe(`lookalike${i}`)).engineGraph, `lookalike${i}`).toBe(false);
  });

  it("offline, plans from what the model cache holds: its dtypes and its config.json's mark", async () => {
    // A loopback port nothing listens on: the network is gone.
    const closed = createServer();
    await new Promise<void>((done) => closed.listen(0, '127.0.0.1', done));
    const offline = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise<void>((done) => closed.close(() => done()));
    const asked: string[] = [];
    // The cache holds config.json and the q8 file whole (a model cached before a q4 plan, say).
    const holds: Record<string, string> = {
      [`${offline}/converted/config.json`]: folders.converted!['config.json']!,
      [`${offline}/converted/onnx/model_quantized.onnx`]: 'q8',
    };
    const cache = async (url: string) => {
      asked.push(url);
      const text = holds[url];
      return text === undefined ? null : { bytes: text.length, text: async () => text };
    };
    const source = { kind: 'url' as const, url: `${offline}/converted/` };
    expect(await probeModel(source, offline, offline, cache)).toEqual({
      dtypes: ['q8'],
      bytesByDtype: { q8: 2 },
      engineGraph: true,
    });
    expect(asked).toContain(`${offline}/converted/config.json`);
    // Without the cache, offline is nothing known; online, the server decides (a Hub export's config).
    expect(await probeModel(source, offline, offline)).toEqual({
      dtypes: [],
      bytesByDtype: {},
      engineGraph: false,
    });
    asked.length = 0;
    expect(await probeModel({ kind: 'url', url: `${origin}/hub/` }, origin, origin, cache)).toEqual({
      dtypes: ['q8', 'q4'],
      bytesByDtype: { q8: 2, q4: 3 },
      engineGraph: false,
    });
    expect(asked).toEqual([]);
  });

  it('reads the mark from a picked folder too (config.json, not generation_config.json)', async () => {
    const blob = (text: string) => new Blob([text]);
    const files = (config: string) => [
      { path: 'm/generation_config.json', blob: blob('{"edgetier": {}}') },
      { path: 'm/config.json', blob: blob(config) },
      { path: 'm/onnx/model_q4.onnx', blob: blob('q4!') },
    ];
    const picked = (config: string) => probeModel({ kind: 'files', name: 'm', files: files(config) }, '', '');
    expect(await picked(folders.converted!['config.json']!)).toEqual({
      dtypes: ['q4'],
      bytesByDtype: { q4: 3 },
      engineGraph: true,
    });
    expect((await picked(folders.hub!['config.json']!)).engineGraph).toBe(false);
    // Only the folder's own config.json counts (the engine reads no other): not one in a subfolder
    // (listed first) nor a name that merely ends in config.json.
    const stray = (name: string) =>
      probeModel(
        {
          kind: 'files',
          name: 'm',
          files: [
            { path: name, blob: blob(folders.converted!['config.json']!) },
            { path: 'm/config.json', blob: blob(folders.hub!['config.json']!) },
            { path: 'm/onnx/model_q4.onnx', blob: blob('q4!') },
          ],
        },
        '',
        '',
      );
    expect((await stray('m/old/config.json')).engineGraph).toBe(false);
    expect((await stray('m/adapter-config.json')).engineGraph).toBe(false);
  });
});
