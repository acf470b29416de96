/**
 * Builds the CPU engine's WebAssembly kernels from their AssemblyScript source (kernels/kernels.ts)
 * with the project's own compiler (the `assemblyscript` devDependency), and caches the module under
 * `.cache/cpu-engine/` keyed by a hash of the source, the compiler version and the flags: no .wasm is
 * kept in git. The engine builds on demand; `npm run build:kernels` builds ahead of time.
 *
 * `EDGETIER_ASSEMBLYSCRIPT` may name an assemblyscript package folder to use instead of the project's
 * (a compiler installed elsewhere).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { EdgetierError } from '../core/errors.ts';

const here = dirname(fileURLToPath(import.meta.url));
const ROOT = join(here, '..', '..');
export const KERNELS_SOURCE = fileURLToPath(new URL('./kernels/kernels.ts', import.meta.url));
/** The relaxed-SIMD builds' entry: kernels.ts's exports and the int8 4-bit GEMM. */
export const RELAXED_KERNELS_SOURCE = fileURLToPath(new URL('./kernels/relaxed.ts', import.meta.url));
/** Every source file of the kernels (a change to any rebuilds them). */
export const KERNELS_SOURCES = [
  KERNELS_SOURCE,
  RELAXED_KERNELS_SOURCE,
  fileURLToPath(new URL('./kernels/shared.ts', import.meta.url)),
];
const CACHE_DIR = join(ROOT, '.cache', 'cpu-engine');

/** SIMD128 only (no relaxed SIMD), no GC runtime, memory imported from the engine. */
const ASC_FLAGS = [
  '-O3',
  '--noAssert',
  '--runtime',
  'stub',
  '--importMemory',
  '--enable',
  'simd',
  '--bindings',
  'none',
];

/**
 * The threaded build (thread-pool.ts): the same source over a shared imported memory (wasm32's whole
 * 4 GiB as its maximum, as a shared memory must declare one), with the threads feature (atomics).
 */
export const SHARED_ASC_FLAGS = [
  ...ASC_FLAGS,
  '--enable',
  'threads',
  '--sharedMemory',
  '--maximumMemory',
  '65536',
];

function compilerDir(): string {
  const override = process.env.EDGETIER_ASSEMBLYSCRIPT;
  if (override) return override;
  try {
    return dirname(createRequire(import.meta.url).resolve('assemblyscript/package.json'));
  } catch {
    throw new EdgetierError(
      'load_failed',
      "The CPU engine's kernels are built with AssemblyScript, which is not installed: run `npm ci` (devDependency assemblyscript).",
    );
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** The relaxed-SIMD builds add the feature (relaxed.ts's entry; kernels.ts's code is the same). */
const RELAXED_FLAGS = ['--enable', 'relaxed-simd'];

/**
 * Path of the built kernels, compiling them first when the cache has no build of this source; `shared`:
 * the threaded build over a shared memory; `relaxed`: the build with relaxed SIMD (relaxed.ts), which
 * only engines that validate relaxed SIMD can compile.
 */
export async function buildKernels(shared = false, relaxed = false): Promise<string> {
  const flags = [...(shared ? SHARED_ASC_FLAGS : ASC_FLAGS), ...(relaxed ? RELAXED_FLAGS : [])];
  const entry = relaxed ? RELAXED_KERNELS_SOURCE : KERNELS_SOURCE;
  const compiler = compilerDir();
  const version = await readFile(join(compiler, 'package.json'), 'utf8').then(
    (text) => JSON.parse(text).version as string,
    (error) => {
      throw new EdgetierError('load_failed', `No AssemblyScript compiler in ${compiler}: ${String(error)}`, {
        cause: error,
      });
    },
  );
  const hash = createHash('sha256');
  for (const file of KERNELS_SOURCES) hash.update(await readFile(file)).update('\0');
  hash.update(`${relaxed ? 'relaxed' : 'simd128'}\0${version}\0${flags.join(' ')}`);
  // `kernels-` starts every name: the static site's service worker precaches these few-KB files.
  const out = join(CACHE_DIR, `kernels-${relaxed ? 'relaxed-' : ''}${hash.digest('hex').slice(0, 16)}.wasm`);
  if (await exists(out)) return out;
  await mkdir(CACHE_DIR, { recursive: true });
  // Build under a private name, then rename: two processes building at once never see half a file.
  const partial = `${out}.${process.pid}.partial`;
  try {
    await promisify(execFile)(process.execPath, [
      join(compiler, 'bin', 'asc.js'),
      entry,
      ...flags,
      '-o',
      partial,
    ]);
    await rename(partial, out);
  } catch (error) {
    await rm(partial, { force: true });
    const detail = (error as { stderr?: string }).stderr?.trim() || String(error);
    throw new EdgetierError('load_failed', `Building the CPU engine's kernels failed: ${detail}`, {
      cause: error,
    });
  }
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    for (const relaxed of [false, true]) {
      console.log(await buildKernels(false, relaxed));
      console.log(await buildKernels(true, relaxed));
    }
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    process.exitCode = 1;
  }
}
