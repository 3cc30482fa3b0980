/**
 * Redis being unreachable is the caller's 503, not a 500: wraps a RolloutService so connection
 * failures surface as STORE_UNAVAILABLE while every coded error passes through unchanged.
 */
import { errorMessage } from "../../logging/redact.ts";
import { CanarydError, type RolloutService, storeUnavailable } from "../service/rollout-service.ts";

// The last three are a Redis Cluster's: no node reachable, no slot map, or the slot's master down.
const connectionFailure =
  /ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EHOSTUNREACH|Connection is closed|Stream isn't writeable|max retries per request|None of startup nodes is available|Failed to refresh slots cache|CLUSTERDOWN/i;

export function isConnectionError(error: unknown): boolean {
  if (error instanceof CanarydError || !(error instanceof Error)) return false;
  return error.name === "MaxRetriesPerRequestError" || connectionFailure.test(error.message);
}

/** False while the connection is lost: a call then fails at once instead of queueing for retries. */
export type StoreReachable = () => boolean;

function guard<A extends unknown[], R>(
  fn: (...args: A) => Promise<R>,
  reachable: StoreReachable,
): (...args: A) => Promise<R> {
  return async (...args) => {
    // ioredis would hold each command through maxRetriesPerRequest reconnect attempts (seconds
    // each once its backoff has grown), and a route runs several: callers would wait, not get a 503.
    if (!reachable()) throw storeUnavailable("the connection is lost; reconnecting");
    try {
      return await fn(...args);
    } catch (error) {
      throw isConnectionError(error) ? storeUnavailable(errorMessage(error)) : error;
    }
  };
}

export function withStoreErrors(
  service: RolloutService,
  reachable: StoreReachable = () => true,
): RolloutService {
  return {
    start: guard(service.start.bind(service), reachable),
    plan: guard(service.plan.bind(service), reachable),
    get: guard(service.get.bind(service), reachable),
    compactedRecord: guard(service.compactedRecord.bind(service), reachable),
    list: guard(service.list.bind(service), reachable),
    act: guard(service.act.bind(service), reachable),
    rollbackScaleSet: guard(service.rollbackScaleSet.bind(service), reachable),
    timeline: guard(service.timeline.bind(service), reachable),
    deadLetters: guard(service.deadLetters.bind(service), reachable),
    subscribe: guard(service.subscribe.bind(service), reachable),
    waitForTerminal: guard(service.waitForTerminal.bind(service), reachable),
    ready: service.ready.bind(service),
  };
}
