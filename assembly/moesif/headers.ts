// Read-only access to one side's HTTP headers, shared by uri/clientip/identity so they
// stay independent of how the filter fetches headers from the host.

import { ByteBuf } from "../lib/bytes";

export abstract class HeaderLookup {
  /** First value of the header named `lowerName` (a lowercase name), or null when absent.
   *  The implementer does the case-insensitive matching. */
  abstract get(lowerName: string): string | null;

  /** Appends the first value's UTF-8 bytes to `out`; false when absent. Implementers that
   *  hold bytes override it to skip the string. */
  getBytes(lowerName: string, out: ByteBuf): bool {
    const v = this.get(lowerName);
    if (v === null) return false;
    out.str(v);
    return true;
  }
}
