/**
 * What the app's own server says it serves (review of issue 16 item 7): the Models view draws a
 * tier's bar from the parameter count its /v1/models claims, so an absurd claim must not be believed
 * (it would shrink every other bar to nothing), and a long list must still be searched.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RemoteEngine } from '../../src/remote/remote-engine.ts';

const CLAIMS: Record<string, unknown> = {
  zero: 0,
  negative: -494000000,
  fraction: 494000000.5,
  astronomical: 1e30,
  unsafe: 2 ** 60,
  'beyond-any-model': 9e15,
  string: '494000000',
  real: 494000000,
};

let server: Server;
let baseUrl: string;

beforeAll(async () => {
  const data = [
    ...Array.from({ length: 5000 }, (_, i) => ({ id: `filler-${i}`, object: 'model' })),
    ...Object.entries(CLAIMS).map(([id, params]) => ({
      id,
      object: 'model',
      edgetier: { synthetic: true, mirrors: '<b>Org/Model</b>', params },
    })),
  ];
  server = createServer((req, res) => {
    if (req.url === '/v1/models') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ object: 'list', data }));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe("the app's own server's parameter claims", () => {
  const describeModel = (model: string) => new RemoteEngine({ baseUrl, model, ownServer: true }).describe();

  it('believes a whole, positive, plausible count, found behind 5,000 other models', async () => {
    await expect(describeModel('real')).resolves.toEqual({
      id: 'real',
      synthetic: true,
      mirrors: '<b>Org/Model</b>',
      params: 494000000,
    });
  });

  it.each(Object.keys(CLAIMS).filter((k) => k !== 'real'))('refuses the claim "%s"', async (id) => {
    const served = await describeModel(id);
    expect(served.id).toBe(id);
    expect(served).not.toHaveProperty('params');
  });
});
