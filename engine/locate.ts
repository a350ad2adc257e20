// Where Kong's engine is: one environment variable names its nginx binary. The project never
// assumes a path; CI sets the variable when the shared prebuilt engine is present.
import { accessSync, constants } from "node:fs";

export const ENGINE_ENV = "KONG_WASM_ENGINE";

/** The engine's nginx binary, or null when the variable is unset or names no executable. */
export function engineBinary(): string | null {
  const path = process.env[ENGINE_ENV];
  if (!path) return null;
  try {
    accessSync(path, constants.X_OK);
    return path;
  } catch {
    return null;
  }
}

/** Why the engine suites are skipped (one line), or null when an engine is configured. */
export function engineSkipReason(): string | null {
  if (engineBinary()) return null;
  const path = process.env[ENGINE_ENV];
  return path
    ? `${ENGINE_ENV}=${path} is not an executable nginx: engine tests skipped`
    : `${ENGINE_ENV} is not set (path of Kong's engine nginx binary; see README "Running the engine suites"): engine tests skipped`;
}
