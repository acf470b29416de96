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
import {
  brokenChromiumMessage,
  type ChromiumLocation,
  chromiumAction,
  missingChromiumMessage,
} from '../../src/cli/chromium.ts';

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
      chromiumAction({ location, present, runs: present, root, aptGet });
    expect(action(standard, true, false, false)).toBe('present');
    expect(chromiumAction({ location: standard, present: true, runs: false, root: true, aptGet: true })).toBe(
      'broken',
    );
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
    const result = await ensureChromium({ EDGETIER_CHROMIUM: '/usr/bin/chromium' });
    expect(result).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  // An executable that is not a working browser (a broken install, EDGETIER_CHROMIUM at the wrong
  // binary) stops the run in one line too, rather than failing every browser test with Playwright's log.
  it('stops the run with one line when the file there does not run as Chromium', async () => {
    expect(await ensureChromium({ EDGETIER_CHROMIUM: '/bin/false' })).toEqual({
      code: 1,
      stdout: '',
      stderr: `npm test: ${brokenChromiumMessage({ path: '/bin/false', fromEnv: true }, 'exited with code 1')}\n`,
    });
    expect(brokenChromiumMessage({ path: '/bin/false', fromEnv: true }, 'exited with code 1')).toBe(
      'Chromium at /bin/false (EDGETIER_CHROMIUM) does not run: `/bin/false --version` exited with code 1. Point ' +
        "EDGETIER_CHROMIUM at a working Chromium binary, or unset it and install Debian's Chromium with " +
        '`sudo apt-get install -y chromium`.',
    );
    const node = await ensureChromium({ EDGETIER_CHROMIUM: process.execPath });
    expect(node.code).toBe(1);
    expect(node.stderr).toBe(
      `npm test: ${brokenChromiumMessage({ path: process.execPath, fromEnv: true }, `printed "${process.version}", not a Chromium version`)}\n`,
    );
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

  it('`edgetier generate --device wasm` says in one line that the browser did not start', async () => {
    const model = mkdtempSync(join(tmpdir(), 'edgetier-broken-browser-'));
    try {
      const result = await node(
        ['bin/edgetier.mjs', 'generate', model, '--prompt', 'Hi', '--device', 'wasm'],
        {
          EDGETIER_CHROMIUM: '/bin/false',
        },
      );
      expect(result).toEqual({
        code: 1,
        stdout: '',
        stderr:
          'edgetier generate: Chromium at /bin/false (EDGETIER_CHROMIUM) did not start ' +
          '(browserType.launchPersistentContext: Target page, context or browser has been closed): ' +
          'check that `/bin/false --version` runs, or point EDGETIER_CHROMIUM at a working Chromium binary.\n',
      });
    } finally {
      rmSync(model, { recursive: true, force: true });
    }
  });
});
