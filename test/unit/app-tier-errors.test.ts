/**
 * The message a visitor reads when a tier cannot be reached (Compare, Settings' Test connection):
 * from a real refused connection (Node's fetch to a closed loopback port), the likely causes for that
 * address, the advice, and the runtime's own words last; other failures keep their own message.
 */
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  explainTierError,
  keyForAddress,
  tierOnThisComputer,
  tierUrlProblem,
  withoutCredentials,
} from '../../src/app/state/tier-errors.ts';
import { EdgetierError } from '../../src/core/errors.ts';
import { listModels } from '../../src/remote/openai-client.ts';

/** A loopback port nothing listens on: one the OS just handed out and took back. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const refusal = async (baseUrl: string) =>
  listModels({ baseUrl }).then(
    () => null,
    (error: unknown) => error,
  );

describe('explainTierError', () => {
  it('names the causes of a refused connection to another origin, the advice, then what the runtime said', async () => {
    const port = await closedPort();
    const baseUrl = `http://127.0.0.1:${port}/v1`;
    const error = await refusal(baseUrl);
    expect(error).toBeInstanceOf(EdgetierError);
    const message = explainTierError(
      error,
      { name: 'Fast tier', baseUrl },
      'http://127.0.0.1:8080/#compare',
      "Check the tier's address in Settings, then Retry.",
    );
    expect(message).toBe(
      `Could not reach Fast tier at ${baseUrl}. Likely causes: no server is running at 127.0.0.1:${port}; ` +
        `a firewall or proxy blocks port ${port}; the server refuses requests from this page (CORS: it must allow ` +
        `the origin http://127.0.0.1:8080); the base URL is wrong (it usually ends in /v1). Check the tier's ` +
        `address in Settings, then Retry. (The browser said: connect ECONNREFUSED 127.0.0.1:${port}.)`,
    );
  });

  it("says the page's own policy blocks plain http off this computer, and drops CORS for the page's own server", async () => {
    const port = await closedPort();
    const error = await refusal(`http://127.0.0.1:${port}/v1`);
    const lan = explainTierError(
      error,
      { name: 'LAN tier', baseUrl: 'http://192.168.1.20:8000/v1' },
      'https://demo.example/',
      'Retry.',
    );
    expect(lan).toMatch(
      /^Could not reach LAN tier at http:\/\/192\.168\.1\.20:8000\/v1\. Likely causes: this page may call only https: addresses and plain http on this computer/,
    );
    const own = explainTierError(
      error,
      { name: 'This server', baseUrl: '' },
      'http://127.0.0.1:8080/',
      'Retry.',
    );
    expect(own).toMatch(
      /^Could not reach This server at http:\/\/127\.0\.0\.1:8080\/v1\. Likely causes: this page’s own server stopped or restarted; the base URL is wrong/,
    );
    expect(own).not.toContain('CORS');
  });

  it('leaves a tier that answered (a status, a model it lacks) to its own message', () => {
    const error = new EdgetierError('auth', 'GET https://api.example/v1/models answered 401 Unauthorized.');
    expect(
      explainTierError(
        error,
        { name: 'T', baseUrl: 'https://api.example/v1' },
        'https://demo.example/',
        'Retry.',
      ),
    ).toBeNull();
  });
});

describe('tierOnThisComputer', () => {
  it('is true for loopback tiers and for the own server of a page served from loopback', () => {
    expect(tierOnThisComputer({ baseUrl: '' }, 'http://127.0.0.1:8080/')).toBe(true);
    expect(tierOnThisComputer({ baseUrl: 'http://localhost:11434/v1' }, 'https://demo.example/')).toBe(true);
    expect(tierOnThisComputer({ baseUrl: '' }, 'https://demo.example/')).toBe(false);
    expect(tierOnThisComputer({ baseUrl: 'https://api.openai.com/v1' }, 'http://127.0.0.1:8080/')).toBe(
      false,
    );
  });
});

describe('tierUrlProblem', () => {
  const page = 'http://127.0.0.1:8080/';
  const problem = (baseUrl: string) => tierUrlProblem({ name: 'T', baseUrl }, page);

  it('accepts this server (empty), a path on it, and absolute http(s) addresses', () => {
    for (const ok of ['', '/v1', 'https://api.example.com/v1', 'http://127.0.0.1:9/v1']) {
      expect(problem(ok)).toBeNull();
    }
  });

  it('refuses by name an address with credentials, without repeating them', () => {
    const said = problem('https://me:hunter2@api.example.com/v1')!;
    expect(said).toMatch(/user name or password/);
    expect(said).not.toContain('hunter2');
    expect(said).not.toContain('me:');
  });

  it('refuses other schemes and addresses that would be read relative to this page', () => {
    expect(problem('ftp://api.example.com/v1')).toMatch(/starts with "ftp:"/);
    expect(problem('javascript:alert(1)')).toMatch(/starts with "javascript:"/);
    for (const relative of ['api.example.com/v1', 'http://', 'https://[bad']) {
      expect(problem(relative)).toMatch(/not a full web address/);
    }
  });

  it('keeps tierOnThisComputer from throwing on an address that does not parse', () => {
    expect(tierOnThisComputer({ baseUrl: 'https://[bad' }, page)).toBe(false);
  });
});

describe('withoutCredentials', () => {
  it('takes the user name and password out of every URL in a text', () => {
    expect(
      withoutCredentials(
        'Request cannot be constructed from a URL that includes credentials: http://u:p4ss@127.0.0.1:1/v1/models',
      ),
    ).toBe(
      'Request cannot be constructed from a URL that includes credentials: http://127.0.0.1:1/v1/models',
    );
  });
});

describe('keyForAddress', () => {
  const page = 'http://localhost:5173/#settings';
  const saved = { name: 'Fast tier', baseUrl: 'https://api.one.example/v1' };
  const at = (baseUrl: string) => ({ name: 'Fast tier', baseUrl });

  it('drops the saved key, left untouched, when the address moves to another origin', () => {
    expect(keyForAddress(saved, 'sk-old', at('https://evil.example/v1'), 'sk-old', false, page)).toEqual({
      key: '',
      withheld: true,
      savedOrigin: 'https://api.one.example',
    });
    // Another port, or http instead of https, is another origin too; so is this page's own server.
    for (const next of ['https://api.one.example:8443/v1', 'http://api.one.example/v1', '']) {
      expect(keyForAddress(saved, 'sk-old', at(next), 'sk-old', false, page).withheld).toBe(true);
    }
  });

  it('keeps the key for a path change on the same origin', () => {
    expect(
      keyForAddress(saved, 'sk-old', at('https://api.one.example/v2/openai'), 'sk-old', false, page),
    ).toEqual({
      key: 'sk-old',
      withheld: false,
      savedOrigin: 'https://api.one.example',
    });
  });

  it('uses a key typed anew, even the same text, and a different key, on any origin', () => {
    const other = at('https://two.example/v1');
    expect(keyForAddress(saved, 'sk-old', other, 'sk-old', true, page).key).toBe('sk-old');
    expect(keyForAddress(saved, 'sk-old', other, 'sk-new', false, page).key).toBe('sk-new');
    expect(keyForAddress(saved, 'sk-old', other, '', false, page)).toMatchObject({
      key: '',
      withheld: false,
    });
  });

  it('has nothing to withhold without a saved key, and withholds when the saved address never parsed', () => {
    expect(keyForAddress(saved, null, at('https://two.example/v1'), '', false, page).withheld).toBe(false);
    const broken = at('https://[bad');
    expect(keyForAddress(broken, 'sk-old', broken, 'sk-old', false, page)).toEqual({
      key: '',
      withheld: true,
      savedOrigin: null,
    });
  });
});
