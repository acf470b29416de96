/**
 * `edgetier build` (src/site/static-site.ts) against a careless or hostile command line, on real
 * files: an --out that holds someone's files is refused, never replaced; --models that name nothing,
 * clash or hold symlinks are refused by name or published as real files.
 */
import { createHash } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { writeStaticSite } from '../../src/site/static-site.ts';

const work = mkdtempSync(join(tmpdir(), 'edgetier-site-safety-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

let root: string;
let app: string;
let case_ = 0;
beforeEach(() => {
  root = join(work, `case-${++case_}`);
  app = join(root, 'app');
  mkdirSync(app, { recursive: true });
  writeFileSync(join(app, 'index.html'), '<!doctype html><title>t</title>');
});

/** A model folder the index can describe (a config.json is what makes it one). */
function modelFolder(dir: string, weights = 'WEIGHTS'): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), '{}');
  writeFileSync(join(dir, 'model.onnx'), weights);
  return dir;
}

const build = (out: string, modelDirs: string[] = []) => writeStaticSite({ appDir: app, out, modelDirs });

/** Files left next to `out` by a build (staging or old copies). */
const leftovers = (out: string) =>
  readdirSync(join(out, '..')).filter((n) => n.includes('.tmp-') || n.includes('.old-'));

describe('--out', () => {
  it('refuses a folder of files that no build wrote, and leaves every one of them', async () => {
    const out = join(root, 'thesis');
    mkdirSync(join(out, 'chapters'), { recursive: true });
    writeFileSync(join(out, 'chapters', 'one.txt'), 'precious');
    await expect(build(out)).rejects.toThrow(
      `--out ${out} holds "chapters/one.txt", which edgetier build did not write. The build replaces ` +
        'that folder as a whole: choose a new or empty folder, or move the file out first.',
    );
    expect(readFileSync(join(out, 'chapters', 'one.txt'), 'utf8')).toBe('precious');
    expect(leftovers(out)).toEqual([]);
  });

  it('refuses to write over the --models folder it publishes from', async () => {
    const models = join(root, 'models');
    modelFolder(join(models, 'tiny'));
    await expect(build(models, [models])).rejects.toThrow(
      `--out ${models} holds "tiny/config.json", which edgetier build did not write.`,
    );
    expect(readFileSync(join(models, 'tiny', 'model.onnx'), 'utf8')).toBe('WEIGHTS');
  });

  it('replaces its own previous site, but not a file a person added to it', async () => {
    const out = join(root, 'site');
    await build(out);
    await build(out); // a rebuild over its own output is the normal case
    expect(existsSync(join(out, 'sw.js'))).toBe(true);
    writeFileSync(join(out, 'CNAME'), 'demo.example.com');
    await expect(build(out)).rejects.toThrow(
      `--out ${out} holds "CNAME", which edgetier build did not write.`,
    );
    expect(readFileSync(join(out, 'CNAME'), 'utf8')).toBe('demo.example.com');
    expect(leftovers(out)).toEqual([]);
  });

  it('writes into an empty folder, and through a symlink into the folder it names', async () => {
    const empty = join(root, 'empty');
    mkdirSync(empty);
    await build(empty);
    expect(existsSync(join(empty, 'sw.js'))).toBe(true);

    const target = join(root, 'release');
    mkdirSync(target);
    const link = join(root, 'current');
    symlinkSync(target, link);
    await build(link);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(existsSync(join(target, 'sw.js'))).toBe(true);
  });

  it('refuses a folder inside the app it publishes, with a one-line reason', async () => {
    const out = join(app, 'site');
    await expect(build(out)).rejects.toThrow(
      `--out ${out} is inside the app folder ${app}, which it would copy into itself; choose a folder outside it.`,
    );
    expect(readdirSync(app)).toEqual(['index.html']);
  });

  it('refuses the filesystem root with a one-line reason', async () => {
    await expect(build('/')).rejects.toThrow(
      '--out / is the root of the filesystem; choose a folder for the site.',
    );
  });
});

describe('--models', () => {
  it('refuses a folder that does not exist, or holds no model folder, by name', async () => {
    const out = join(root, 'site');
    const missing = join(root, 'modles');
    await expect(build(out, [missing])).rejects.toThrow(`--models ${missing} does not exist.`);
    const single = modelFolder(join(root, 'tiny'));
    await expect(build(out, [single])).rejects.toThrow(
      `--models ${single} is a model folder itself; pass the folder that holds it (${root}).`,
    );
    const empty = join(root, 'nothing');
    mkdirSync(empty);
    writeFileSync(join(empty, 'notes.txt'), 'x');
    await expect(build(out, [empty])).rejects.toThrow(
      `--models ${empty} holds no model folder (a folder with a config.json).`,
    );
    expect(existsSync(out)).toBe(false);
  });

  it('refuses two different folders of one name, and a name the site cannot publish', async () => {
    const out = join(root, 'site');
    const a = join(root, 'a');
    const b = join(root, 'b');
    modelFolder(join(a, 'tiny'));
    modelFolder(join(b, 'tiny'));
    await expect(build(out, [a, b])).rejects.toThrow(
      `two model folders are named "tiny" (${join(a, 'tiny')} and ${join(b, 'tiny')}); rename one.`,
    );
    // The same folder given twice is one folder.
    expect((await build(out, [a, a])).models).toEqual(['tiny']);
    const odd = join(root, 'odd');
    modelFolder(join(odd, 'my model'));
    await expect(build(out, [odd])).rejects.toThrow(
      `--models ${odd}: the model folder "my model" has a name a URL cannot carry as is ` +
        '(letters, digits, ".", "_" and "-" only, not starting with "."); rename it.',
    );
  });

  it('publishes the contents of symlinked files (a Hugging Face cache snapshot), never the links', async () => {
    // The Hub cache layout: snapshots/<rev>/<file> -> ../../blobs/<hash>.
    const blobs = join(root, 'blobs');
    mkdirSync(blobs);
    writeFileSync(join(blobs, 'c1'), '{}');
    writeFileSync(join(blobs, 'w1'), 'REAL-WEIGHTS');
    const models = join(root, 'snapshots');
    const rev = join(models, 'rev1');
    mkdirSync(join(rev, 'onnx'), { recursive: true });
    symlinkSync('../../blobs/c1', join(rev, 'config.json'));
    symlinkSync('../../../blobs/w1', join(rev, 'onnx', 'model.onnx'));
    const out = join(root, 'site');
    await build(out, [models]);
    const published = join(out, 'models', 'rev1', 'onnx', 'model.onnx');
    expect(lstatSync(published).isFile()).toBe(true);
    expect(readFileSync(published, 'utf8')).toBe('REAL-WEIGHTS');
    const index = JSON.parse(readFileSync(join(out, 'models', 'index.json'), 'utf8'));
    const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
    expect(index.models[0].files).toEqual([
      { path: 'config.json', bytes: 2, sha256: sha256('{}') },
      { path: 'onnx/model.onnx', bytes: 12, sha256: sha256('REAL-WEIGHTS') },
    ]);
  });

  it('refuses a symlink to a folder or to nothing inside a model folder, by name', async () => {
    const models = join(root, 'models');
    const tiny = modelFolder(join(models, 'tiny'));
    symlinkSync('/', join(tiny, 'everything'));
    const out = join(root, 'site');
    await expect(build(out, [models])).rejects.toThrow(
      `${join(tiny, 'everything')} is a symlink to a folder; a site publishes files only: copy what it needs instead.`,
    );
    rmSync(join(tiny, 'everything'));
    symlinkSync(join(root, 'gone'), join(tiny, 'dangling'));
    await expect(build(out, [models])).rejects.toThrow(`${join(tiny, 'dangling')} is a symlink to nothing.`);
    expect(existsSync(out)).toBe(false);
    expect(leftovers(out)).toEqual([]);
  });
});
