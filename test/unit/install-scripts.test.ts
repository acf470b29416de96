/**
 * The install-script policy (ARCHITECTURE.md, "Install scripts"): npm reads the project's `.npmrc`
 * without a warning and runs no dependency install script (onnxruntime-node's would download a CUDA
 * add-on), and the project has no pre/post script, which that setting would skip without a word.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname;

describe('install scripts', () => {
  it('npm reads the project config without a warning and runs no install script', async () => {
    const { stdout, stderr } = await run('npm', ['config', 'get', 'ignore-scripts'], { cwd: ROOT });
    expect({ stdout, stderr }).toEqual({ stdout: 'true\n', stderr: '' });
  });

  it('`npx edgetier --help` prints no npm warning', async () => {
    const { stdout, stderr } = await run('npx', ['edgetier', '--help'], { cwd: ROOT });
    expect(stdout).toMatch(/^Usage: edgetier <command>/);
    expect(stderr).toBe('');
  });

  it('the project has no pre/post or lifecycle script that ignore-scripts would skip silently', () => {
    const { scripts } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    const lifecycle =
      /^(pre|post)|^(install|prepare|prepublish|prepublishOnly|prepack|postpack|dependencies)$/;
    expect(Object.keys(scripts).filter((name) => lifecycle.test(name))).toEqual([]);
  });
});
