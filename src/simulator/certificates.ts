/**
 * The simulator's own CA and server certificate. Generated once per cert directory and reused on
 * restart, so a client that trusted the CA keeps trusting a restarted simulator.
 */
import { webcrypto } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const TEN_YEARS_MS = 10 * 365 * 24 * 3600 * 1000;

export interface SimulatorCertificates {
  caCertFile: string;
  caCert: string;
  cert: string;
  key: string;
}

/** Names every client might use to reach a loopback simulator, plus the configured host. */
export function certificateNames(host: string): string[] {
  return [...new Set(["127.0.0.1", "localhost", "::1", host].filter((name) => name !== "0.0.0.0" && name !== "::"))];
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey("pkcs8", key as webcrypto.CryptoKey);
  return x509.PemConverter.encode(der, "PRIVATE KEY");
}

async function generate(names: string[]): Promise<Omit<SimulatorCertificates, "caCertFile">> {
  const subtle = webcrypto.subtle as unknown as SubtleCrypto;
  const notBefore = new Date(Date.now() - 3600_000);
  const notAfter = new Date(Date.now() + TEN_YEARS_MS);
  const caKeys = (await subtle.generateKey(ALGORITHM, true, ["sign", "verify"])) as CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    name: "CN=canaryd simulator CA",
    keys: caKeys,
    notBefore,
    notAfter,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const serverKeys = (await subtle.generateKey(ALGORITHM, true, ["sign", "verify"])) as CryptoKeyPair;
  const server = await x509.X509CertificateGenerator.create({
    subject: `CN=${names.find((name) => !isIP(name)) ?? "localhost"}`,
    issuer: ca.subject,
    publicKey: serverKeys.publicKey,
    signingKey: caKeys.privateKey,
    notBefore,
    notAfter,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        names.map((value) => ({ type: isIP(value) ? "ip" : "dns", value }) as const),
      ),
      await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  return { caCert: ca.toString("pem"), cert: server.toString("pem"), key: await exportKeyPem(serverKeys.privateKey) };
}

/** Loads the certificates from `dir`, generating them when absent or when `host` is a new name. */
export async function ensureCertificates(dir: string, host: string): Promise<SimulatorCertificates> {
  const names = certificateNames(host);
  const files = { ca: join(dir, "ca.pem"), cert: join(dir, "server.pem"), key: join(dir, "server-key.pem") };
  const namesFile = join(dir, "server-names.json");
  if (existsSync(files.ca) && existsSync(files.cert) && existsSync(files.key) && existsSync(namesFile)) {
    const known = JSON.parse(await readFile(namesFile, "utf8")) as string[];
    if (names.every((name) => known.includes(name))) {
      const [caCert, cert, key] = await Promise.all([
        readFile(files.ca, "utf8"),
        readFile(files.cert, "utf8"),
        readFile(files.key, "utf8"),
      ]);
      return { caCertFile: files.ca, caCert, cert, key };
    }
  }
  await mkdir(dir, { recursive: true });
  const generated = await generate(names);
  await writeFile(files.ca, generated.caCert);
  await writeFile(files.cert, generated.cert);
  await writeFile(files.key, generated.key, { mode: 0o600 });
  await writeFile(namesFile, JSON.stringify(names));
  return { caCertFile: files.ca, ...generated };
}
