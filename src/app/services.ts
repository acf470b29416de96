/**
 * What the app needs from the outside world, in one interface: the engines, the device check and
 * the server's model list. main.ts wires the real ones; nothing in the components imports an engine.
 */
import type { DeviceBudget, RemoteTier, ServedModel, ServerModelEntry } from '../core/catalog.ts';
import type { Engine, GenerateRequest } from '../core/engine.ts';
import type { SiteConfig } from '../core/site-config.ts';
import type { RemoteLimits } from '../remote/openai-client.ts';

export interface AppServices {
  /** The on-device engine (one per app: models are loaded into it one at a time). */
  createLocalEngine(): Engine;
  /**
   * An engine for a remote tier; `apiKey` null for servers that need none (edgetier serve);
   * `limits` replace the default time limits (Settings' "Test connection" waits 10 s, not 30).
   */
  createRemoteEngine(tier: RemoteTier, apiKey: string | null, limits?: Partial<RemoteLimits>): Engine;
  /** What this device can do, reduced to what fit decisions need. */
  detectBudget(): Promise<DeviceBudget>;
  /** Local model folders the server offers (empty when the page is not served by edgetier serve). */
  fetchServerModels(): Promise<ServerModelEntry[]>;
  /** A static build's edgetier.config.json (models offered first, default model, tiers); null otherwise. */
  site?: SiteConfig | null;
  /**
   * What a tier serves (its model, and for the app's own server whether it is a twin and its size),
   * or null where the app does not ask: a tier on another origin is never called unasked.
   */
  describeTier?(tier: RemoteTier): Promise<ServedModel | null>;
  /** Bytes of the request body a remote tier is sent for `request` (what leaves the device). */
  remoteRequestBytes(model: string, request: GenerateRequest): number;
}
