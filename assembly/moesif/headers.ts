// Read-only access to one side's HTTP headers, shared by uri/clientip/identity so they
// stay independent of how the filter fetches headers from the host.

export abstract class HeaderLookup {
  /** First value of the header named `lowerName` (a lowercase name), or null when absent.
   *  The implementer does the case-insensitive matching. */
  abstract get(lowerName: string): string | null;
}
