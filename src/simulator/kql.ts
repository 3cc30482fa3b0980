/**
 * The simulator's KQL: a documented subset, enough for the logQuery gate's examples
 * (docs/simulator.md), evaluated over the tables of ./log-tables.ts. Anything else is refused
 * with a KqlError, which the route answers 400 in Log Analytics' error shape; it is never guessed.
 *
 *   Table
 *   | where <cond> [and <cond>]…       cond: col == | != | =~ | >= | <= | > | < literal,
 *                                             col in (literal, …), col !in (literal, …),
 *                                             col between (literal .. literal),
 *                                             col contains | has "text"
 *   | summarize [name =] count() [, …] [by col, …]
 *   | project col, …
 *   | take N   (or limit N)
 *
 * Literals: "…" or '…' strings (backslash escapes \" \' \\ \n \t), numbers, true/false,
 * datetime(ISO 8601), dynamic([literal, …]) (flattened inside `in`). Strings compare
 * case-sensitively except `=~`, `contains` and `has`. Pure.
 */
import type { LogTable } from "./log-tables.ts";

export class KqlError extends Error {
  /** SyntaxError or SemanticError (innererror.code), SYN0002 / SEM0100 (its innererror). */
  readonly kind: "SyntaxError" | "SemanticError";
  readonly detailCode: string;
  constructor(kind: "SyntaxError" | "SemanticError", detailCode: string, message: string) {
    super(message);
    this.kind = kind;
    this.detailCode = detailCode;
  }
}

type Token =
  | { t: "ident"; v: string; at: number }
  | { t: "string"; v: string; at: number }
  | { t: "number"; v: number; at: number }
  | { t: "datetime"; v: number; at: number }
  | { t: "punct"; v: string; at: number };

const PUNCT = ["..", "==", "!=", "=~", ">=", "<=", "!in", "|", "(", ")", ",", "[", "]", ">", "<", "="];

function syntax(at: number, token: string): KqlError {
  return new KqlError("SyntaxError", "SYN0002", `Query could not be parsed at '${token}' on line [1,${at}]`);
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] ?? "";
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '"' || c === "'") {
      const at = i;
      let value = "";
      i++;
      for (;;) {
        const d = text[i];
        if (d === undefined) throw syntax(at, text.slice(at, at + 20));
        if (d === c) {
          i++;
          break;
        }
        if (d === "\\") {
          const e = text[i + 1];
          const escapes: Record<string, string> = {
            '"': '"',
            "'": "'",
            "\\": "\\",
            n: "\n",
            t: "\t",
            r: "\r",
          };
          if (e === undefined || escapes[e] === undefined) throw syntax(i, text.slice(i, i + 2));
          value += escapes[e];
          i += 2;
          continue;
        }
        value += d;
        i++;
      }
      tokens.push({ t: "string", v: value, at });
      continue;
    }
    const number = /^\d+(\.\d+)?/.exec(text.slice(i));
    if (number) {
      tokens.push({ t: "number", v: Number(number[0]), at: i });
      i += number[0].length;
      continue;
    }
    const ident = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i));
    if (ident) {
      const word = ident[0];
      const rest = text.slice(i + word.length);
      const call = /^\s*\(/.exec(rest);
      if (word === "datetime" && call) {
        const open = i + word.length + call[0].length;
        const close = text.indexOf(")", open);
        const raw = close < 0 ? "" : text.slice(open, close).trim();
        const at = Date.parse(raw);
        if (close < 0 || !/^\d{4}-\d{2}-\d{2}/.test(raw) || Number.isNaN(at))
          throw syntax(i, text.slice(i, open + 30));
        tokens.push({ t: "datetime", v: at, at: i });
        i = close + 1;
        continue;
      }
      tokens.push({ t: "ident", v: word, at: i });
      i += word.length;
      continue;
    }
    const punct = PUNCT.find((p) => text.startsWith(p, i));
    if (!punct) throw syntax(i, c);
    tokens.push({ t: "punct", v: punct, at: i });
    i += punct.length;
  }
  return tokens;
}

type Scalar = string | number | boolean | null;
type Literal = Scalar | Scalar[];
type Condition = (row: Record<string, unknown>) => boolean;

class Parser {
  #i = 0;
  readonly tokens: Token[];
  readonly text: string;
  constructor(tokens: Token[], text: string) {
    this.tokens = tokens;
    this.text = text;
  }
  peek(): Token | undefined {
    return this.tokens[this.#i];
  }
  next(): Token {
    const token = this.tokens[this.#i++];
    if (!token) throw syntax(this.text.length, "<end of query>");
    return token;
  }
  is(value: string): boolean {
    const token = this.peek();
    return token !== undefined && (token.t === "punct" || token.t === "ident") && token.v === value;
  }
  expect(value: string): void {
    const token = this.next();
    if (!((token.t === "punct" || token.t === "ident") && token.v === value))
      throw syntax(token.at, String(token.v));
  }
  ident(): string {
    const token = this.next();
    if (token.t !== "ident") throw syntax(token.at, String(token.v));
    return token.v;
  }
  done(): boolean {
    return this.#i >= this.tokens.length;
  }
  literal(): Literal {
    const token = this.next();
    if (token.t === "string" || token.t === "number") return token.v;
    if (token.t === "datetime") return token.v;
    if (token.t === "ident" && (token.v === "true" || token.v === "false")) return token.v === "true";
    if (token.t === "ident" && token.v === "dynamic") {
      this.expect("(");
      this.expect("[");
      const values: Scalar[] = [];
      while (!this.is("]")) {
        const value = this.literal();
        if (Array.isArray(value)) throw syntax(token.at, "dynamic");
        values.push(value);
        if (!this.is("]")) this.expect(",");
      }
      this.expect("]");
      this.expect(")");
      return values;
    }
    throw syntax(token.at, String(token.v));
  }
}

function unresolved(operator: string, name: string): KqlError {
  return new KqlError(
    "SemanticError",
    "SEM0100",
    `'${operator}' operator: Failed to resolve scalar expression named '${name}'`,
  );
}

/** A cell as comparable: datetimes (ISO strings in `datetime` columns) as epoch ms. */
function value(row: Record<string, unknown>, column: string, types: Map<string, string>): unknown {
  const cell = row[column];
  return types.get(column) === "datetime" && typeof cell === "string" ? Date.parse(cell) : cell;
}

function compare(a: unknown, b: Scalar): number | undefined {
  if (typeof a === "number" && typeof b === "number") return a - b;
  if (typeof a === "string" && typeof b === "string") return a < b ? -1 : a > b ? 1 : 0;
  return undefined;
}

function condition(p: Parser, types: Map<string, string>): Condition {
  const column = p.ident();
  if (!types.has(column)) throw unresolved("where", column);
  const op = p.next();
  const opText = String(op.v);
  if (op.t === "ident" && (opText === "contains" || opText === "has")) {
    const needle = p.literal();
    if (typeof needle !== "string") throw syntax(op.at, opText);
    const lower = needle.toLowerCase();
    return (row) =>
      String(row[column] ?? "")
        .toLowerCase()
        .includes(lower);
  }
  if (opText === "in" || opText === "!in") {
    p.expect("(");
    const list: Scalar[] = [];
    while (!p.is(")")) {
      const item = p.literal();
      list.push(...(Array.isArray(item) ? item : [item]));
      if (!p.is(")")) p.expect(",");
    }
    p.expect(")");
    const negate = opText === "!in";
    return (row) => {
      const cell = value(row, column, types);
      const found = list.some((item) => compare(cell, item) === 0);
      return negate ? !found : found;
    };
  }
  if (opText === "between") {
    p.expect("(");
    const low = p.literal();
    p.expect("..");
    const high = p.literal();
    p.expect(")");
    if (Array.isArray(low) || Array.isArray(high)) throw syntax(op.at, "between");
    return (row) => {
      const cell = value(row, column, types);
      const a = compare(cell, low);
      const b = compare(cell, high);
      return a !== undefined && b !== undefined && a >= 0 && b <= 0;
    };
  }
  if (op.t !== "punct" || !["==", "!=", "=~", ">=", "<=", ">", "<"].includes(opText))
    throw new KqlError(
      "SyntaxError",
      "SYN0002",
      `Query could not be parsed at '${opText}' on line [1,${op.at}] (the simulator's KQL subset supports ==, !=, =~, <, <=, >, >=, in, !in, between, contains, has)`,
    );
  const literal = p.literal();
  if (Array.isArray(literal)) throw syntax(op.at, "dynamic");
  return (row) => {
    const cell = value(row, column, types);
    if (opText === "=~")
      return (
        typeof cell === "string" &&
        typeof literal === "string" &&
        cell.toLowerCase() === literal.toLowerCase()
      );
    if (opText === "==") return cell === literal || compare(cell, literal) === 0;
    if (opText === "!=") return !(cell === literal || compare(cell, literal) === 0);
    const order = compare(cell, literal);
    if (order === undefined) return false;
    return opText === ">="
      ? order >= 0
      : opText === "<="
        ? order <= 0
        : opText === ">"
          ? order > 0
          : order < 0;
  };
}

/** Evaluates `query` over `tables`: one result table (PrimaryResult), or a KqlError. */
export function evaluateKql(query: string, tables: LogTable[]): LogTable {
  const p = new Parser(tokenize(query), query);
  const name = p.ident();
  const source = tables.find((table) => table.name === name);
  if (!source)
    throw new KqlError(
      "SemanticError",
      "SEM0100",
      `'${name}' operator: Failed to resolve table or column expression named '${name}'`,
    );
  let columns = source.columns.map((column) => ({ ...column }));
  let rows: Record<string, unknown>[] = source.rows.map((row) =>
    Object.fromEntries(columns.map((column, index) => [column.name, row[index]])),
  );
  while (!p.done()) {
    p.expect("|");
    const operator = p.next();
    const types = new Map(columns.map((column) => [column.name, column.type as string]));
    const op = operator.t === "ident" ? operator.v : "";
    if (op === "where") {
      const conditions = [condition(p, types)];
      while (p.is("and")) {
        p.next();
        conditions.push(condition(p, types));
      }
      if (p.is("or"))
        throw new KqlError("SyntaxError", "SYN0002", "'or' is not in the simulator's KQL subset: use 'in'");
      rows = rows.filter((row) => conditions.every((test) => test(row)));
    } else if (op === "summarize") {
      const aggregates: string[] = [];
      do {
        if (aggregates.length > 0) p.expect(",");
        let alias = "count_";
        const first = p.ident();
        if (p.is("=")) {
          p.next();
          alias = first;
          p.expect("count");
        } else if (first !== "count") throw syntax(operator.at, first);
        p.expect("(");
        p.expect(")");
        aggregates.push(alias);
      } while (p.is(","));
      const by: string[] = [];
      if (p.is("by")) {
        p.next();
        do {
          if (by.length > 0) p.expect(",");
          const column = p.ident();
          if (!types.has(column)) throw unresolved("summarize", column);
          by.push(column);
        } while (p.is(","));
      }
      const groups = new Map<string, { key: Record<string, unknown>; count: number }>();
      for (const row of rows) {
        const key = Object.fromEntries(by.map((column) => [column, row[column]]));
        const id = JSON.stringify(by.map((column) => row[column]));
        const group = groups.get(id) ?? { key, count: 0 };
        group.count += 1;
        groups.set(id, group);
      }
      // Without `by`, summarize answers one row even over no input (count 0), as Kusto does.
      if (by.length === 0 && groups.size === 0) groups.set("[]", { key: {}, count: 0 });
      columns = [
        ...by.map((column) => ({
          name: column,
          type: (types.get(column) ?? "string") as LogTable["columns"][number]["type"],
        })),
        ...aggregates.map((alias) => ({ name: alias, type: "long" as const })),
      ];
      rows = [...groups.values()].map((group) => ({
        ...group.key,
        ...Object.fromEntries(aggregates.map((alias) => [alias, group.count])),
      }));
    } else if (op === "project") {
      const kept: string[] = [];
      do {
        if (kept.length > 0) p.expect(",");
        const column = p.ident();
        if (!types.has(column)) throw unresolved("project", column);
        kept.push(column);
      } while (p.is(","));
      columns = kept.map((column) => ({
        name: column,
        type: (types.get(column) ?? "string") as LogTable["columns"][number]["type"],
      }));
      rows = rows.map((row) => Object.fromEntries(kept.map((column) => [column, row[column]])));
    } else if (op === "take" || op === "limit") {
      const count = p.next();
      if (count.t !== "number" || !Number.isInteger(count.v)) throw syntax(count.at, String(count.v));
      rows = rows.slice(0, count.v);
    } else {
      throw new KqlError(
        "SyntaxError",
        "SYN0002",
        `Query could not be parsed at '${String(operator.v)}' on line [1,${operator.at}] (the simulator's KQL subset has where, summarize count() by, project, take)`,
      );
    }
  }
  return {
    name: "PrimaryResult",
    columns,
    rows: rows.map((row) => columns.map((column) => row[column.name] ?? null)),
  };
}
