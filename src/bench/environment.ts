/** The Node side of a benchmark's environment block: CPU, OS, runtime and library versions. */
import { readFileSync } from 'node:fs';
import { arch, cpus, loadavg, release, type } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchEnvironment } from '../core/bench/schema.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The installed version of a package of this project, or null. */
export function packageVersion(name: string): string | null {
  try {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8'));
    return typeof pkg.version === 'string' ? pkg.version : null;
  } catch {
    return null;
  }
}

function osName(): string {
  let pretty = '';
  try {
    pretty = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? '';
  } catch {}
  const kernel = `${type()} ${release()} ${arch()}`;
  return pretty ? `${pretty} (${kernel})` : kernel;
}

export function nodeEnvironment(): BenchEnvironment {
  const cores = cpus();
  return {
    cpu_model: cores[0]?.model.trim() ?? null,
    cpu_cores: cores.length,
    os: osName(),
    node_version: process.version,
    browser_version: null,
    webgpu: null,
    webgpu_unavailable_reason: null,
    cross_origin_isolated: null,
    jspi: null,
    onnxruntime_node_version: packageVersion('onnxruntime-node'),
    onnxruntime_web_version: packageVersion('onnxruntime-web'),
    transformers_version: packageVersion('@huggingface/transformers'),
    load_average: loadavg().map((v) => Math.round(v * 100) / 100),
  };
}
