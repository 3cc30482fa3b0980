/**
 * Every error the API answers is an RFC 9457 problem document (`application/problem+json`).
 * One error handler maps what can go wrong (CanarydError, request validation, body limits, the
 * unexpected) to a status and a body that a person can act on and that leaks no internals.
 */
import type { FastifyError, FastifyInstance, FastifyRequest } from "fastify";
import type { SpecError } from "../domain/parse-spec.ts";
import { CanarydError } from "../engine/service/rollout-service.ts";

export const problemContentType = "application/problem+json";

/** One broken rule: `path` names the field (`waves[0].scaleSets[1]`, `querystring.limit`). */
export interface FieldError {
  path: string;
  rule: string;
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance?: string;
  errors?: FieldError[];
  [extension: string]: unknown;
}

const titles: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  410: "Gone",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

/** Problem members that a CanarydError's details must not overwrite. */
const reservedMembers = new Set(["type", "title", "status", "detail", "code", "instance"]);

export const problemType = (code: string) => `urn:canaryd:problem:${code.toLowerCase().replaceAll("_", "-")}`;

export const invalidSpec = (errors: SpecError[]) => {
  const first = errors[0];
  const summary = first ? `${first.path || "(document)"}: ${first.rule}` : "no details";
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : "";
  return new CanarydError("SPEC_INVALID", 400, `the rollout spec is invalid: ${summary}${more}`, { errors });
};

export const unauthorized = (why: string) => new CanarydError("UNAUTHORIZED", 401, why);

export const forbidden = (actorId: string, role: string, needed: string) =>
  new CanarydError("FORBIDDEN", 403, `${actorId} has role ${role}; this action needs ${needed} or higher`, {
    role,
    needed,
  });

export const routeNotDeclared = (url: string) =>
  new CanarydError("ROUTE_NOT_DECLARED", 403, `route ${url} declares no role and is not public: denied`, {
    url,
  });

export const rateLimited = (max: number, retryAfter: string) =>
  new CanarydError("RATE_LIMITED", 429, `more than ${max} changes per minute; retry in ${retryAfter}`);

interface AjvError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

/** `/waves/0/name` in the body becomes `body.waves[0].name`. */
function ajvPath(context: string, error: AjvError): string {
  let path = context;
  for (const segment of error.instancePath.split("/").slice(1)) {
    path += /^\d+$/.test(segment) ? `[${segment}]` : `.${segment}`;
  }
  const child = error.params.missingProperty ?? error.params.additionalProperty;
  if (typeof child === "string") path += `.${child}`;
  return path;
}

function ajvRule(error: AjvError): string {
  if (error.keyword === "additionalProperties") return "unknown field";
  if (error.keyword === "required") return "required";
  return error.message ?? error.keyword;
}

export function validationErrors(error: FastifyError): FieldError[] {
  const context = error.validationContext ?? "request";
  return (error.validation ?? []).map((e) => {
    const ajvError = e as unknown as AjvError;
    return { path: ajvPath(context, ajvError), rule: ajvRule(ajvError) };
  });
}

/** The query string stays out of problem documents (they are echoed and logged). */
const pathOf = (url: string) => url.split("?")[0] ?? url;

function problem(status: number, code: string, detail: string, instance: string): Problem {
  return { type: problemType(code), title: titles[status] ?? "Error", status, detail, code, instance };
}

/** Maps any thrown value to the problem the caller sees. Unknown errors say nothing of internals. */
export function toProblem(error: unknown, request: Pick<FastifyRequest, "url" | "id">): Problem {
  const instance = pathOf(request.url);
  if (error instanceof CanarydError) {
    const body = problem(error.statusCode, error.code, error.message, instance);
    for (const [key, value] of Object.entries(error.details)) {
      if (!reservedMembers.has(key)) body[key] = value;
    }
    return body;
  }
  const fastifyError = error as Partial<FastifyError> | undefined;
  if (fastifyError?.validation) {
    const errors = validationErrors(fastifyError as FastifyError);
    const first = errors[0];
    const detail = first ? `invalid request: ${first.path}: ${first.rule}` : "invalid request";
    return { ...problem(400, "REQUEST_INVALID", detail, instance), errors };
  }
  const status = fastifyError?.statusCode;
  const code = fastifyError?.code;
  // Fastify's own client errors (body too large, bad JSON, unsupported media type) carry safe messages.
  if (typeof status === "number" && status >= 400 && status < 500 && typeof code === "string") {
    return problem(
      status,
      code.startsWith("FST_") ? code.replace(/^FST_ERR_(CTP_)?/, "") : code,
      fastifyError?.message ?? "",
      instance,
    );
  }
  return problem(
    500,
    "INTERNAL",
    `an unexpected error occurred; the daemon log has the details under request ${request.id}`,
    instance,
  );
}

export function registerProblemHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    const body = toProblem(error, request);
    if (body.status >= 500) request.log.error({ err: error }, "request failed");
    else request.log.info({ code: body.code, status: body.status }, "request refused");
    if (body.status === 401) reply.header("www-authenticate", 'Bearer realm="canaryd"');
    return reply.code(body.status).type(problemContentType).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    const path = pathOf(request.url);
    const body = problem(404, "ROUTE_NOT_FOUND", `no route ${request.method} ${path}`, path);
    return reply.code(404).type(problemContentType).send(body);
  });
}
