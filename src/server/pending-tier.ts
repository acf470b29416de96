/**
 * A stand-in for the native tier while its model folder is still being built (`npm start` on a
 * fresh machine): listed in /v1/models with state "building", answering 503 with Retry-After
 * instead of a misleading 404. Replaced by the real tier once the build ends.
 */
import type { WireModel } from '../remote/openai-wire.ts';
import { ApiError } from './api-error.ts';
import type { Tier, TierOutcome } from './tier.ts';

export class PendingTier implements Tier {
  readonly state = 'building';

  constructor(
    readonly id: string,
    private readonly description: string,
    private readonly retryAfterSec = 30,
  ) {}

  async models(): Promise<WireModel[]> {
    return [
      {
        id: this.id,
        object: 'model',
        created: 0,
        owned_by: 'edgetier',
        edgetier: { tier: 'native', state: this.state, description: this.description },
      },
    ];
  }

  async handles(model: string): Promise<boolean> {
    return model === this.id;
  }

  async run(): Promise<TierOutcome> {
    throw new ApiError(
      503,
      `The tier model ${this.id} is still being built (${this.description}). Retry in about ${this.retryAfterSec} s.`,
      'server_error',
      'tier_building',
      null,
      { 'Retry-After': String(this.retryAfterSec) },
    );
  }

  async close(): Promise<void> {}
}
