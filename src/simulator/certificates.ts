/**
 * The simulator's own CA and server certificate. Generated once per cert directory and reused on
 * restart, so a client that trusted the CA keeps trusting a restarted simulator.
 */
import { webcrypto } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import { join, resolve } from "node:path";
// @peculiar/x509 loads tsyringe, which needs the Reflect metadata API.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

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
  return [
    ...new Set(["127.0.0.1", "localhost", "::1", host].filter((name) => name !== "0.0.0.0" && name !== "::")),
  ];
}

async function exportKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey("pkcs8", key);
  return x509.PemConverter.encode(der, "PRIVATE KEY");
}

interface CertificateAuthority {
  cert: x509.X509Certificate;
  privateKey: webcrypto.CryptoKey;
  publicKey: webcrypto.CryptoKey;
}

async function createAuthority(): Promise<CertificateAuthority> {
  const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, [
    "sign",
    "verify",
  ])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: "CN=canaryd simulator CA",
    keys,
    notBefore: new Date(Date.now() - 3600_000),
    notAfter: new Date(Date.now() + TEN_YEARS_MS),
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, privateKey: keys.privateKey, publicKey: keys.publicKey };
}

async function loadAuthority(certPem: string, keyPem: string): Promise<CertificateAuthority> {
  const cert = new x509.X509Certificate(certPem);
  const der = x509.PemConverter.decodeFirst(keyPem);
  const privateKey = await webcrypto.subtle.importKey("pkcs8", der, ALGORITHM, true, ["sign"]);
  const publicKey = (await cert.publicKey.export(ALGORITHM, ["verify"])) as webcrypto.CryptoKey;
  return { cert, privateKey, publicKey };
}

async function issueServerCertificate(
  ca: CertificateAuthority,
  names: string[],
): Promise<{ cert: string; key: string }> {
  const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, [
    "sign",
    "verify",
  ])) as webcrypto.CryptoKeyPair;
  const server = await x509.X509CertificateGenerator.create({
    subject: `CN=${names.find((name) => !isIP(name)) ?? "localhost"}`,
    issuer: ca.cert.subject,
    publicKey: keys.publicKey,
    signingKey: ca.privateKey,
    notBefore: new Date(Date.now() - 3600_000),
    notAfter: new Date(Date.now() + TEN_YEARS_MS),
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        names.map((value) => ({ type: isIP(value) ? "ip" : "dns", value }) as const),
      ),
      await x509.AuthorityKeyIdentifierExtension.create(ca.publicKey),
    ],
  });
  return { cert: server.toString("pem"), key: await exportKeyPem(keys.privateKey) };
}

const exists = (paths: string[]) => paths.every((path) => existsSync(path));

/**
 * Loads the CA and server certificate from `dir`. The CA is created once and kept, so clients that
 * trust it keep trusting the simulator; the server certificate is reissued when `host` is a new name.
 */
export async function ensureCertificates(dir: string, host: string): Promise<SimulatorCertificates> {
  const names = certificateNames(host);
  const abs = resolve(dir);
  const files = {
    ca: join(abs, "ca.pem"),
    caKey: join(abs, "ca-key.pem"),
    cert: join(abs, "server.pem"),
    key: join(abs, "server-key.pem"),
    names: join(abs, "server-names.json"),
  };
  await mkdir(abs, { recursive: true });
  let ca: CertificateAuthority;
  if (exists([files.ca, files.caKey])) {
    ca = await loadAuthority(await readFile(files.ca, "utf8"), await readFile(files.caKey, "utf8"));
  } else {
    ca = await createAuthority();
    await writeFile(files.caKey, await exportKeyPem(ca.privateKey), { mode: 0o600 });
    await writeFile(files.ca, ca.cert.toString("pem"));
  }
  const caCert = ca.cert.toString("pem");
  if (exists([files.cert, files.key, files.names])) {
    const known = JSON.parse(await readFile(files.names, "utf8")) as string[];
    if (names.every((name) => known.includes(name))) {
      return {
        caCertFile: files.ca,
        caCert,
        cert: await readFile(files.cert, "utf8"),
        key: await readFile(files.key, "utf8"),
      };
    }
  }
  const server = await issueServerCertificate(ca, names);
  await writeFile(files.key, server.key, { mode: 0o600 });
  await writeFile(files.cert, server.cert);
  await writeFile(files.names, JSON.stringify(names));
  return { caCertFile: files.ca, caCert, ...server };
}
