/**
 * The app's entry: wires the real engines (the on-device WorkerEngine, RemoteEngine for tiers) and
 * the server's model list into the services the components use, then mounts <et-app>. A static
 * build (`edgetier build`) first reads its edgetier.config.json and starts its service worker.
 */
import { WorkerEngine } from '../client/worker-engine.ts';
import { cpuBuild, wasmThreads } from '../core/backend-plan.ts';
import type { RemoteTier, ServerModelEntry } from '../core/catalog.ts';
import { RemoteEngine, toWireRequest } from '../remote/remote-engine.ts';
import { EtApp } from './components/app-shell/app-shell.ts';
import { prepareStaticSite } from './services/site-config.ts';
import type { AppServices } from './services.ts';

// Before any engine starts: the service worker may reload the page once to make it isolated.
const site = await prepareStaticSite();
const local = new WorkerEngine();

/** A tier's base URL, absolute, and whether it is this page's own server. */
function tierUrl(tier: RemoteTier): { baseUrl: string; ownServer: boolean } {
  // An empty base URL means this server's own tier (edgetier serve keeps any upstream key); a
  // static site's config may give a path on its host (a reverse proxy to edgetier serve).
  const baseUrl = new URL(tier.baseUrl || '/v1', location.href).href;
  return { baseUrl, ownServer: new URL(baseUrl).origin === location.origin };
}

export const browserServices: AppServices = {
  createLocalEngine: () => local,
  createRemoteEngine: (tier, apiKey, limits) => {
    const { baseUrl, ownServer } = tierUrl(tier);
    return new RemoteEngine({
      baseUrl,
      ...(limits ? { limits } : {}),
      ...(apiKey ? { apiKey } : {}),
      ...(tier.model ? { model: tier.model } : {}),
      // Only this app's own server may say a model is a synthetic twin.
      ownServer,
      // This page calls the tier itself: the key is the one entered in Settings, not a server's.
      ...(ownServer
        ? {}
        : {
            authAdvice: `Check the API key entered for "${tier.name}" in Settings and that it may use this model.`,
          }),
    });
  },
  async describeTier(tier) {
    const { baseUrl, ownServer } = tierUrl(tier);
    // Only this page's own server is asked unasked: its list is same-origin and keyless.
    if (!ownServer) return null;
    return new RemoteEngine({ baseUrl, ownServer, ...(tier.model ? { model: tier.model } : {}) }).describe();
  },
  async detectBudget() {
    const caps = await local.capabilities();
    // A software adapter (SwiftShader) runs WebGPU at CPU-emulation speed: plan as if absent.
    const gpu = caps.webgpu && !caps.webgpu.isFallbackAdapter ? caps.webgpu : null;
    return {
      webgpu: gpu !== null,
      shaderF16: gpu?.shaderF16 ?? false,
      deviceMemoryGiB: caps.deviceMemoryGiB,
      maxBufferBytes: gpu?.maxBufferSizeBytes ?? null,
      wasm: { build: cpuBuild(caps), threads: wasmThreads(caps) },
      wasmSimd: caps.wasmSimd,
    };
  },
  async fetchServerModels() {
    // Relative: a static build may live under a sub-path of its host.
    const index = new URL('models/index.json', document.baseURI);
    const response = await fetch(index, { headers: { accept: 'application/json' } });
    if (!response.ok || !response.headers.get('content-type')?.includes('json')) return [];
    const body = (await response.json()) as { models?: ServerModelEntry[] };
    // The worker resolves URLs against its own script: hand it absolute ones (relative URLs, as a
    // static build writes them, are relative to the page).
    return (body.models ?? []).map((m) => ({
      ...m,
      url: new URL(m.url ?? `models/${m.name}/`, document.baseURI).href,
    }));
  },
  site: site?.config ?? null,
  remoteRequestBytes: (model, request) =>
    new TextEncoder().encode(JSON.stringify({ ...toWireRequest(model, request), stream: true })).length,
};

document.body.append(new EtApp(browserServices));
