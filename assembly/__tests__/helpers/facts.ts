// RequestFacts for rule and sampling specs: a route, a verb and a fixed client IP.
import { RequestFacts } from "../../moesif/rules";

export function facts(route: string = "/", verb: string = "GET"): RequestFacts {
  const f = new RequestFacts();
  f.route = route;
  f.verb = verb;
  f.ipAddress = "10.0.0.1";
  return f;
}
