// Test HeaderLookup over a Map; names are lowercased on insert, so lookups are
// case-insensitive the way the filter's real header reader is.

import { HeaderLookup } from "../../moesif/headers";

export class MapHeaders extends HeaderLookup {
  private map: Map<string, string> = new Map<string, string>();

  set(name: string, value: string): MapHeaders {
    this.map.set(name.toLowerCase(), value);
    return this;
  }

  get(lowerName: string): string | null {
    return this.map.has(lowerName) ? this.map.get(lowerName) : null;
  }
}
