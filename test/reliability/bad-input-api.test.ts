/**
 * Every API route under hostile input (fast-check through Fastify inject), against a real engine
 * on the real Redis: garbled JSON and YAML, huge bodies, deep nesting, wrong types, unknown
 * fields, odd characters in names and ids, alias bombs. Always a 4xx problem with a code and a
 * detail, never a 5xx, and never a rollout created, whole or half (the list and Redis say so).
 */
import fc from "fast-check";
import type { LightMyRequestResponse } from "fastify";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseRolloutSpec, validateRolloutSpec } from "../../src/domain/parse-spec.ts";
import { redisUrl, removeKeys } from "../integration/engine/support/harness.ts";
import { ResultsRecorder } from "../support/reliability-rows.ts";
import { demoSpec, type Stack, startStack } from "../support/reliability-stack.ts";

const results = new ResultsRecorder("bad-input-api");
let stack: Stack;
let redis: Redis;

beforeAll(async () => {
  stack = await startStack({ redisUrl, server: { bodyLimitBytes: 1_048_576 } });
  redis = new Redis(redisUrl);
});
afterAll(async () => {
  await stack?.close();
  await removeKeys(stack.prefix);
  redis?.disconnect();
  results.write();
});

/** Runs per property: seconds in CI; a soak raises it (RELIABILITY_RUNS=2000). */
const numRuns = Number(process.env.RELIABILITY_RUNS ?? 40);
let requests = 0;
/** Rollouts the API said it created (201): the only ones that may exist afterwards. */
const accepted: string[] = [];

/** A refusal a person can act on: 4xx, problem+json with a code and a detail. */
function expectClearRefusal(response: LightMyRequestResponse, context: string): void {
  requests += 1;
  expect(response.statusCode, `${context}: ${response.body.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
  expect(response.statusCode, `${context}: ${response.body.slice(0, 300)}`).toBeLessThan(500);
  const body = response.json<{ code?: string; detail?: string }>();
  expect(typeof body.code, context).toBe("string");
  expect(body.detail?.length ?? 0, context).toBeGreaterThan(0);
}

/** Rollout records in Redis under the stack's prefix: a half-created rollout would show here. */
async function storedRollouts(): Promise<string[]> {
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, found] = await redis.scan(cursor, "MATCH", `${stack.prefix}:rollout:*`, "COUNT", 500);
    cursor = next;
    keys.push(...found);
  } while (cursor !== "0");
  return keys;
}

async function listed(): Promise<unknown[]> {
  const response = await stack.api.inject({ method: "GET", url: "/v1/rollouts" });
  expect(response.statusCode).toBe(200);
  return response.json<{ items: unknown[] }>().items;
}

const oddText = fc.oneof(
  fc.string({ unit: "binary", minLength: 1, maxLength: 80 }),
  fc.constantFrom(
    "../../etc/passwd",
    "a\u0000b",
    "x\r\nSet-Cookie: a=b",
    "💥",
    "%00",
    "{canaryd}",
    "a:b",
    "*",
    " ",
    ".",
  ),
);
const idActions = ["pause", "resume", "approve", "abort", "rollback"];

describe("the API under hostile input", () => {
  it("starts with no rollouts", async () => {
    expect(await listed()).toEqual([]);
    expect(await storedRollouts()).toEqual([]);
  });

  it("refuses any JSON value that is not a spec", async () => {
    await results.trial("POST /v1/rollouts: arbitrary JSON values", numRuns, async () => {
      await fc.assert(
        fc.asyncProperty(fc.jsonValue({ maxDepth: 5 }), async (value) => {
          const response = await stack.api.inject({
            method: "POST",
            url: "/v1/rollouts",
            payload: JSON.stringify(value),
            headers: { "content-type": "application/json" },
          });
          expectClearRefusal(response, `body ${JSON.stringify(value).slice(0, 100)}`);
        }),
        { numRuns },
      );
      return { outcome: "all 4xx with a problem code and detail" };
    });
  });

  it("refuses garbled JSON and YAML text", async () => {
    await results.trial("POST /v1/rollouts: garbled text as JSON and as YAML", numRuns, async () => {
      const valid = JSON.stringify(demoSpec(stack.fleet, "1.1.0", [["web-a"]]));
      const garbled = fc.oneof(
        fc.string({ unit: "binary", minLength: 1, maxLength: 300 }),
        // A valid document with a slice cut out or a character swapped in: close to valid.
        fc
          .tuple(fc.nat(valid.length - 1), fc.integer({ min: 1, max: 40 }))
          .map(([at, n]) => valid.slice(0, at) + valid.slice(at + n)),
        fc
          .tuple(
            fc.nat(valid.length - 1),
            fc.constantFrom("{", "}", "[", '"', ":", ",", "\u0000", "&a", "*a", "!!binary"),
          )
          .map(([at, c]) => valid.slice(0, at) + c + valid.slice(at + 1)),
      );
      await fc.assert(
        fc.asyncProperty(
          garbled,
          fc.constantFrom("application/json", "application/yaml", "text/yaml"),
          async (text, type) => {
            // A cut or swap that still reads as a valid spec is not garbage (the parser is the judge).
            fc.pre(!parseRolloutSpec(text, type === "application/json" ? "json" : "yaml").ok);
            const response = await stack.api.inject({
              method: "POST",
              url: "/v1/rollouts",
              payload: text,
              headers: { "content-type": type },
            });
            expectClearRefusal(response, `${type} ${text.slice(0, 100)}`);
          },
        ),
        { numRuns },
      );
      return { outcome: "all 4xx with a problem code and detail" };
    });
  });

  it("refuses a valid spec with one field of the wrong type, an unknown field, or an odd name", async () => {
    await results.trial("POST /v1/rollouts: wrong types, unknown fields, odd names", numRuns, async () => {
      const mutation = fc.oneof(
        fc.record({
          kind: fc.constant("wrongType"),
          field: fc.constantFrom("name", "image", "waves", "strategy", "gates", "rollback"),
          value: fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.string()),
        }),
        fc.record({
          kind: fc.constant("unknownField"),
          field: fc.string({ minLength: 1, maxLength: 20 }),
          value: fc.jsonValue({ maxDepth: 2 }),
        }),
        fc.record({ kind: fc.constant("oddName"), field: fc.constant("name"), value: oddText }),
      );
      await fc.assert(
        fc.asyncProperty(mutation, async ({ kind, field, value }) => {
          const spec = demoSpec(stack.fleet, "1.1.0", [["web-a"]]) as unknown as Record<string, unknown>;
          spec[field] = value;
          // A mutation that leaves a valid spec (a plain new name) is not bad input: the parser judges.
          fc.pre(!validateRolloutSpec(spec).ok);
          const response = await stack.api.inject({
            method: "POST",
            url: "/v1/rollouts",
            payload: JSON.stringify(spec),
            headers: { "content-type": "application/json" },
          });
          expectClearRefusal(response, `${kind} ${field}=${JSON.stringify(value)}`);
        }),
        { numRuns },
      );
      return { outcome: "all 4xx with a problem code and detail" };
    });
  });

  it("answers odd rollout ids on every id route with 400 or 404", async () => {
    await results.trial(
      "odd characters in ids on GET/POST /v1/rollouts/:id[/action|/events|/wait]",
      numRuns,
      async () => {
        await fc.assert(
          fc.asyncProperty(
            oddText,
            fc.constantFrom("get", "events", "wait", ...idActions),
            async (id, route) => {
              const path = `/v1/rollouts/${encodeURIComponent(id)}`;
              const request =
                route === "get"
                  ? { method: "GET" as const, url: path }
                  : route === "events"
                    ? { method: "GET" as const, url: `${path}/events` }
                    : route === "wait"
                      ? { method: "GET" as const, url: `${path}/wait?timeoutSeconds=0` }
                      : { method: "POST" as const, url: `${path}/${route}`, payload: {} };
              const response = await stack.api.inject(request);
              expectClearRefusal(response, `${request.method} ${request.url}`);
              expect([400, 404]).toContain(response.statusCode);
            },
          ),
          { numRuns },
        );
        return { outcome: "400 (malformed id) or 404 (unknown id); no 5xx, no hang" };
      },
    );
  });

  it("refuses bad bodies on the action and rollback routes", async () => {
    await results.trial("POST actions and /v1/rollback: arbitrary bodies", numRuns, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.jsonValue({ maxDepth: 3 }),
            fc.record({ reason: fc.oneof(fc.integer(), fc.string({ maxLength: 2000 }), fc.constant(null)) }),
            fc.record({ scaleSetId: oddText, reason: oddText }),
          ),
          fc.constantFrom("/v1/rollback", ...idActions.map((a) => `/v1/rollouts/ro-unknown/${a}`)),
          async (body, url) => {
            const response = await stack.api.inject({
              method: "POST",
              url,
              payload: JSON.stringify(body),
              headers: { "content-type": "application/json" },
            });
            expectClearRefusal(response, `${url} ${JSON.stringify(body).slice(0, 100)}`);
          },
        ),
        { numRuns },
      );
      return {
        outcome: "all 4xx (400 bad body, 404 unknown rollout or scale set with nothing to roll back)",
      };
    });
  });

  it("refuses bad query strings on the list", async () => {
    await results.trial("GET /v1/rollouts: odd query parameters", numRuns, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom("limit", "cursor", "phase", "scaleSetId", "unknown"),
          fc.oneof(oddText, fc.integer().map(String), fc.constant("")),
          async (name, value) => {
            const response = await stack.api.inject({
              method: "GET",
              url: `/v1/rollouts?${name}=${encodeURIComponent(value)}`,
            });
            requests += 1;
            if (response.statusCode === 200) return; // a valid filter matching nothing
            expectClearRefusal(response, `${name}=${value}`);
          },
        ),
        { numRuns },
      );
      return { outcome: "200 (empty page) or 4xx; never 5xx" };
    });
  });

  it("refuses oversized, deeply nested, alias-bomb and prototype-polluting bodies", async () => {
    await results.trial(
      "huge body, 256 KiB+ spec, deep nesting, YAML alias bomb, __proto__, odd content types",
      8,
      async () => {
        const spec = demoSpec(stack.fleet, "1.1.0", [["web-a"]]);
        const post = (payload: string, type = "application/json") =>
          stack.api.inject({
            method: "POST",
            url: "/v1/rollouts",
            payload,
            headers: { "content-type": type },
          });

        const huge = await post(JSON.stringify({ ...spec, labels: { pad: "x".repeat(2_000_000) } }));
        expectClearRefusal(huge, "2 MB body");
        expect(huge.statusCode).toBe(413);

        // Over the parser's 256 KiB spec limit (which YAML bodies get) but under the 1 MiB body limit.
        const bigSpec = await post(
          JSON.stringify({
            ...spec,
            labels: Object.fromEntries(Array.from({ length: 1500 }, (_, i) => [`k${i}`, "v".repeat(250)])),
          }),
        );
        if (bigSpec.statusCode === 201) accepted.push(bigSpec.json<{ id: string }>().id);
        // Soft: the other hostile bodies are still tried when this one is let through.
        expect
          .soft(bigSpec.statusCode, "a 400 KB JSON spec must be refused like a 400 KB YAML one")
          .toBe(400);

        const depth = 50_000;
        expectClearRefusal(await post(`${"[".repeat(depth)}${"]".repeat(depth)}`), "deep JSON array");
        expectClearRefusal(
          await post(`{"name":${'{"a":'.repeat(depth)}1${"}".repeat(depth)}}`),
          "deep JSON object",
        );
        expectClearRefusal(
          await post(`${"[".repeat(depth)}${"]".repeat(depth)}`, "application/yaml"),
          "deep YAML",
        );

        const bomb = ["a: &a [x, x, x, x, x, x, x, x, x]"];
        for (let i = 1; i < 9; i++)
          bomb.push(
            `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9)
              .fill(`*${String.fromCharCode(96 + i)}`)
              .join(", ")}]`,
          );
        const started = Date.now();
        const alias = await post(bomb.join("\n"), "application/yaml");
        expectClearRefusal(alias, "alias bomb");
        expect(Date.now() - started).toBeLessThan(2_000);

        const proto = await post(`{"__proto__":{"admin":true},${JSON.stringify(spec).slice(1)}`);
        expectClearRefusal(proto, "__proto__");

        for (const type of [
          "text/plain",
          "application/xml",
          "multipart/form-data; boundary=x",
          "application/x-www-form-urlencoded",
          "nonsense",
        ]) {
          expectClearRefusal(await post(JSON.stringify(spec), type), `content-type ${type}`);
        }
        return {
          outcome: `413 for a 2 MB body; ${bigSpec.statusCode === 201 ? "a 400 KB JSON spec was ACCEPTED (201: the 256 KiB spec limit applies to YAML only); " : ""}4xx for deep nesting, alias bomb, __proto__, odd content types`,
        };
      },
    );
  });

  it("created no rollout from a refused request, and none half: every stored rollout is one the API accepted", async () => {
    await results.trial("nothing half-created (list and Redis after all of the above)", 1, async () => {
      const ids = (await listed()).map((r) => (r as { id: string }).id);
      expect(ids.sort()).toEqual([...accepted].sort());
      // Each stored rollout is whole: its record, its timeline, readable through the API.
      const records = (await storedRollouts()).filter((k) => /:rollout:[^:]+$/.test(k));
      expect(records.length).toBe(accepted.length);
      for (const id of accepted) {
        const detail = await stack.api.inject({ method: "GET", url: `/v1/rollouts/${id}` });
        expect(detail.statusCode).toBe(200);
        expect(detail.json<{ timeline: unknown[] }>().timeline.length).toBeGreaterThan(0);
      }
      // The refusals were about the input: the same route accepts a valid spec.
      const ok = await stack.api.inject({
        method: "POST",
        url: "/v1/rollouts?dryRun=true",
        payload: demoSpec(stack.fleet, "1.1.0", [["web-b"]]),
      });
      expect(ok.statusCode, ok.body).toBe(200);
      return {
        outcome: `${requests} hostile requests: rollouts stored = rollouts answered 201 (${accepted.length}); none half-made; a valid dry run answers 200`,
      };
    });
  });
});
