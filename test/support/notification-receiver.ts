/**
 * A loopback HTTP receiver that records every notification delivery: generic webhook paths answer
 * as configured (200 by default, `fail` paths 500), `/slack/chat.postMessage` acts like Slack's
 * Web API (ok, a ts per message). `hold()` keeps the next matching request unanswered until
 * released, for killing a daemon mid-delivery. Records survive across daemons: it lives in the test.
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface ReceivedDelivery {
  path: string;
  headers: IncomingHttpHeaders;
  raw: string;
  body: Record<string, unknown>;
  at: number;
  status: number;
}

export interface NotificationReceiver {
  url: string;
  received: ReceivedDelivery[];
  /** Answer this path with this status from now on. */
  answer(path: string, status: number): void;
  /** Holds the next request to `path` unanswered; resolves when one is held. */
  hold(path: string): Promise<{ release(): void }>;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<NotificationReceiver> {
  const received: ReceivedDelivery[] = [];
  const statuses = new Map<string, number>();
  const holds = new Map<string, (release: () => void) => void>();
  let slackTs = 1000;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks).toString("utf8");
      const path = req.url ?? "/";
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
      } catch {}
      // Recorded on arrival: a held request the sender never hears back from was still received.
      const record: ReceivedDelivery = { path, headers: req.headers, raw, body, at: Date.now(), status: 0 };
      received.push(record);
      const respond = () => {
        if (path === "/slack/chat.postMessage") {
          const ts = `${slackTs++}.000100`;
          record.status = 200;
          res.writeHead(200, { "content-type": "application/json" });
          res.end(JSON.stringify({ ok: true, channel: body.channel, ts }));
          return;
        }
        const status = statuses.get(path) ?? (path.includes("fail") ? 500 : 200);
        record.status = status;
        res.writeHead(status);
        res.end(status < 300 ? "ok" : "no");
      };
      const onHold = holds.get(path);
      if (onHold) {
        holds.delete(path);
        // The request is recorded as seen (the receiver got it) but not answered yet.
        onHold(respond);
        return;
      }
      respond();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    answer: (path, status) => statuses.set(path, status),
    hold: (path) =>
      new Promise((resolve) => {
        holds.set(path, (respond) => resolve({ release: respond }));
      }),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
