// Garbage collection for the minimal runtime. It keeps no shadow stack (a third smaller and
// faster code than the incremental runtime, which spills every managed local), so it only
// collects when told to, and that is safe only where no managed object is referenced from a
// Wasm local alone: at the end of an export's callback, where everything live hangs off
// globals (the runtime's context maps, the root's state). Callers must be such places.

/** Requests between two collections (garbage is bounded by this many requests' worth). */
const REQUESTS_PER_COLLECTION: i32 = 256;
let requestsSinceCollection: i32 = 0;

/** Collects now (end of on_tick, on_configure, after a config or rules document). */
export function collectGarbage(): void {
  requestsSinceCollection = 0;
  __collect();
}

/** Counts a finished request and collects every REQUESTS_PER_COLLECTION (end of on_delete). */
export function requestDone(): void {
  if (++requestsSinceCollection >= REQUESTS_PER_COLLECTION) collectGarbage();
}
