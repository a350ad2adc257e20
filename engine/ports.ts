// Free loopback ports for nginx listeners: the OS picks an unused one, we release it and hand
// it to nginx. Another process could take it in between; tests then fail at start, loudly.
import { createServer, type AddressInfo } from "node:net";

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}
