/**
 * Redis being unreachable is the caller's 503, not a 500: wraps a RolloutService so connection
 * failures surface as STORE_UNAVAILABLE while every coded error passes through unchanged.
 */
import { errorMessage } from "../logging/redact.ts";
import { CanarydError, type RolloutService, storeUnavailable } from "./rollout-service.ts";

const connectionFailure =
  /ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EHOSTUNREACH|Connection is closed|Stream isn't writeable|max retries per request/i;

export function isConnectionError(error: unknown): boolean {
  if (error instanceof CanarydError || !(error instanceof Error)) return false;
  return error.name === "MaxRetriesPerRequestError" || connectionFailure.test(error.message);
}

function guard<A extends unknown[], R>(fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args) => {
    try {
      return await fn(...args);
    } catch (error) {
      throw isConnectionError(error) ? storeUnavailable(errorMessage(error)) : error;
    }
  };
}

export function withStoreErrors(service: RolloutService): RolloutService {
  return {
    start: guard(service.start.bind(service)),
    plan: guard(service.plan.bind(service)),
    get: guard(service.get.bind(service)),
    list: guard(service.list.bind(service)),
    act: guard(service.act.bind(service)),
    rollbackScaleSet: guard(service.rollbackScaleSet.bind(service)),
    timeline: guard(service.timeline.bind(service)),
    subscribe: guard(service.subscribe.bind(service)),
    waitForTerminal: guard(service.waitForTerminal.bind(service)),
    ready: service.ready.bind(service),
  };
}
