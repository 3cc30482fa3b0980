/**
 * The server-side request forgery guard of webhook gates. A URL's host must be listed in
 * `gates.webhook.allowedHosts` (as `host` or `host:port`); the name is then resolved and EVERY
 * address is checked, in the lookup the connection itself uses (so a second, different DNS answer
 * cannot slip in between check and connect). Whatever the list says, link-local addresses (and
 * with them the cloud metadata service 169.254.169.254), Azure's host endpoint 168.63.129.16,
 * unspecified and multicast addresses are refused. Loopback is refused unless the URL's host is a
 * listed loopback literal (127.0.0.1, ::1 or localhost): a listed DNS name that resolves to
 * loopback is still refused. Stateless; a refusal is a WebhookRefusedError with a code.
 */
import type { LookupAddress } from "node:dns";
import { lookup as dnsLookup } from "node:dns";
import { BlockList, isIP } from "node:net";

export class WebhookRefusedError extends Error {
  readonly code: "WEBHOOK_HOST_NOT_ALLOWED" | "WEBHOOK_ADDRESS_REFUSED";
  constructor(code: WebhookRefusedError["code"], message: string) {
    super(message);
    this.name = "WebhookRefusedError";
    this.code = code;
  }
}

const alwaysRefused = new BlockList();
alwaysRefused.addSubnet("169.254.0.0", 16, "ipv4"); // link-local, metadata 169.254.169.254
alwaysRefused.addAddress("168.63.129.16", "ipv4"); // Azure host endpoint (wireserver)
alwaysRefused.addSubnet("0.0.0.0", 8, "ipv4");
alwaysRefused.addSubnet("224.0.0.0", 4, "ipv4");
alwaysRefused.addAddress("255.255.255.255", "ipv4");
alwaysRefused.addSubnet("fe80::", 10, "ipv6");
alwaysRefused.addSubnet("ff00::", 8, "ipv6");
alwaysRefused.addAddress("::", "ipv6");
alwaysRefused.addSubnet("fd00:ec2::", 32, "ipv6"); // cloud metadata over IPv6

const loopback = new BlockList();
loopback.addSubnet("127.0.0.0", 8, "ipv4");
loopback.addAddress("::1", "ipv6");

const loopbackNames = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

/** An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is judged as its IPv4 address. */
function normalized(address: string): { address: string; family: "ipv4" | "ipv6" } {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1]) return { address: mapped[1], family: "ipv4" };
  return { address, family: isIP(address) === 6 ? "ipv6" : "ipv4" };
}

/** Why this address may not be called, or undefined when it may. */
export function addressRefusal(address: string, loopbackAllowed: boolean): string | undefined {
  const ip = normalized(address);
  if (alwaysRefused.check(ip.address, ip.family))
    return `${address} is a link-local, metadata, unspecified or multicast address`;
  if (loopback.check(ip.address, ip.family) && !loopbackAllowed)
    return `${address} is a loopback address and the URL's host is not a listed loopback literal`;
  return undefined;
}

/** Checks the URL's host against the list; returns what the connection must then enforce. */
export function checkHost(
  url: URL,
  allowedHosts: readonly string[],
  listKey = "gates.webhook.allowedHosts",
): { loopbackAllowed: boolean } {
  const host = url.hostname.toLowerCase();
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  const listed = allowedHosts.some((entry) => {
    const wanted = entry.toLowerCase();
    return wanted === host || wanted === `${host}:${port}`;
  });
  if (!listed)
    throw new WebhookRefusedError("WEBHOOK_HOST_NOT_ALLOWED", `host ${url.host} is not in ${listKey}`);
  const loopbackAllowed = loopbackNames.has(host);
  if (isIP(host.replace(/^\[|\]$/g, "")) !== 0) {
    const refusal = addressRefusal(host.replace(/^\[|\]$/g, ""), loopbackAllowed);
    if (refusal) throw new WebhookRefusedError("WEBHOOK_ADDRESS_REFUSED", refusal);
  }
  return { loopbackAllowed };
}

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * A `lookup` for http(s).request that resolves the name and refuses it when any address is
 * refused (a name with one good and one bad address is refused whole).
 */
export function guardedLookup(loopbackAllowed: boolean) {
  return (hostname: string, options: { all?: boolean }, callback: LookupCallback): void => {
    dnsLookup(hostname, { all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      for (const { address } of addresses) {
        const refusal = addressRefusal(address, loopbackAllowed);
        if (refusal)
          return callback(
            new WebhookRefusedError("WEBHOOK_ADDRESS_REFUSED", `${hostname} resolves to ${refusal}`),
            [],
          );
      }
      const first = addresses[0];
      if (options.all) return callback(null, addresses);
      if (!first)
        return callback(Object.assign(new Error(`${hostname} has no address`), { code: "ENOTFOUND" }), []);
      callback(null, first.address, first.family);
    });
  };
}
