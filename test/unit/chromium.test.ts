/**
 * A machine without Chromium: `npm test` stops before anything runs with one line that names the
 * browser and the command that installs it (or installs it, where it can), and every command that
 * needs the browser says the same line instead of Playwright's stack. The missing browser is
 * simulated with EDGETIER_CHROMIUM; nothing is uninstalled.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { launchChromium } from '../../src/cli/browser.ts';
import { type ChromiumLocation, chromiumAction, missingChromiumMessage } from '../../src/cli/chromium.ts';

const run = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname;

const MISSING_DEFAULT =
  "Chromium not found at /usr/bin/chromium: install Debian's Chromium with `sudo apt-get install -y chromium`, " +
  'or set EDGETIER_CHROMIUM to a Chromium binary.';
const MISSING_OVERRIDE =
  'Chromium not found at /nonexistent/chromium (EDGETIER_CHROMIUM): point EDGETIER_CHROMIUM at a Chromium ' +
  "binary, or unset it and install Debian's Chromium with `sudo apt-get install -y chromium`.";

async function node(args: string[], env: Record<string, string>) {
  try {
    const { stdout, stderr } = await run(process.execPath, args, {
      cwd: ROOT,
      env: { ...process.env, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const ensureChromium = (env: Record<string, string>) =>
  node(['--import', 'tsx', 'scripts/ensure-chromium.ts'], env);

describe('the Chromium check', () => {
  const saved = process.env.EDGETIER_CHROMIUM;
  afterEach(() => {
    if (saved === undefined) delete process.env.EDGETIER_CHROMIUM;
    else process.env.EDGETIER_CHROMIUM = saved;
  });

  it('names the missing browser and the command that installs it, in one line', () => {
    expect(missingChromiumMessage({ path: '/usr/bin/chromium', fromEnv: false })).toBe(MISSING_DEFAULT);
    expect(missingChromiumMessage({ path: '/nonexistent/chromium', fromEnv: true })).toBe(MISSING_OVERRIDE);
  });

  it('installs only where it can: as root, with apt-get, at the path the package installs to', () => {
    const standard: ChromiumLocation = { path: '/usr/bin/chromium', fromEnv: false };
    const custom: ChromiumLocation = { path: '/opt/chromium', fromEnv: true };
    const action = (location: ChromiumLocation, present: boolean, root: boolean, aptGet: boolean) =>
      chromiumAction({ location, present, root, aptGet });
    expect(action(standard, true, false, false)).toBe('present');
    expect(action(standard, false, true, true)).toBe('install');
    expect(action(standard, false, false, true)).toBe('missing');
    expect(action(standard, false, true, false)).toBe('missing');
    expect(action(custom, false, true, true)).toBe('missing');
  });

  it('is the first step of `npm test`, which `.ci/run` runs after `npm ci`', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(pkg.scripts.test).toBe('tsx scripts/ensure-chromium.ts && npm run verify');
    const ci = readFileSync(join(ROOT, '.ci/run'), 'utf8');
    expect(ci).toContain('\nnpm ci --no-audit --no-fund\nnpm test\n');
    expect(ci).not.toContain('apt-get install');
  });

  it('stops the run with that one line and exit 1 when the browser is missing', async () => {
    const result = await ensureChromium({ EDGETIER_CHROMIUM: '/nonexistent/chromium' });
    expect(result).toEqual({ code: 1, stdout: '', stderr: `npm test: ${MISSING_OVERRIDE}\n` });
  });

  it('prints nothing and lets the run go on when the browser is there', async () => {
    // Any executable file passes the check; the launcher is what proves it is a browser.
    const result = await ensureChromium({ EDGETIER_CHROMIUM: process.execPath });
    expect(result).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  it('launchChromium throws browser_missing with the same line, before Playwright runs', async () => {
    process.env.EDGETIER_CHROMIUM = '/nonexistent/chromium';
    await expect(launchChromium()).rejects.toMatchObject({
      name: 'EdgetierError',
      code: 'browser_missing',
      message: MISSING_OVERRIDE,
    });
  });

  it('`edgetier generate --device wasm` says it in one line, with no stack', async () => {
    const model = mkdtempSync(join(tmpdir(), 'edgetier-no-browser-'));
    try {
      const result = await node(
        ['bin/edgetier.mjs', 'generate', model, '--prompt', 'Hi', '--device', 'wasm'],
        {
          EDGETIER_CHROMIUM: '/nonexistent/chromium',
        },
      );
      expect(result).toEqual({ code: 1, stdout: '', stderr: `edgetier generate: ${MISSING_OVERRIDE}\n` });
    } finally {
      rmSync(model, { recursive: true, force: true });
    }
  });
});
