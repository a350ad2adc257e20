// What to do with a batch after the collector answered (or did not): SPEC §6.

export const enum Outcome {
  Sent = 0,
  /** Timeout, connection error, 5xx, 408, 429: try again later. */
  Retry = 1,
  /** Any other 4xx (or an unexpected status): retrying cannot help, drop it. */
  Reject = 2,
}

/** `status` 0 means no HTTP response at all (timeout, refused, reset, TLS, DNS). */
export function classify(status: i32): Outcome {
  if (status >= 200 && status < 300) return Outcome.Sent;
  if (status == 0 || status == 408 || status == 429 || status >= 500) return Outcome.Retry;
  return Outcome.Reject;
}

export const FIRST_RETRY_MS: i64 = 1000;
export const MAX_RETRY_DELAY_MS: i64 = 60000;

/** Delay before retry number `attempts` (0-based): 1 s, 2 s, 4 s, … capped at 60 s. */
export function backoffMs(attempts: u32): i64 {
  if (attempts >= 6) return MAX_RETRY_DELAY_MS;
  const d = FIRST_RETRY_MS << <i64>attempts;
  return d < MAX_RETRY_DELAY_MS ? d : MAX_RETRY_DELAY_MS;
}

/** Whether a batch first tried at `firstAttempt` may still be retried at `now`. */
export function mayRetry(firstAttempt: i64, now: i64, maxRetryTimeMs: i64): bool {
  return now - firstAttempt < maxRetryTimeMs;
}
