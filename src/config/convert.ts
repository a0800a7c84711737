// STUB, replaced by the conversion (tree -> RoutingState). The signature is the contract.
import type { ConversionWarning, LoadedConfig } from '../nginx/types.ts';

export interface RoutingState {
  readonly placeholder?: true;
}

export interface ConversionResult {
  state: RoutingState;
  warnings: ConversionWarning[];
}

/** Builds the immutable RoutingState; throws ConfError (with file:line) where nginx would refuse. */
export function convert(_loaded: LoadedConfig): ConversionResult {
  return { state: {}, warnings: [] };
}
