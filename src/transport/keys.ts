import ssh2 from "ssh2";

// ssh2 is CommonJS without static export names, so ESM takes its default export apart.
const { utils } = ssh2;

export interface SshKeyPair {
  /** OpenSSH private key (PEM-like "BEGIN OPENSSH PRIVATE KEY"). */
  privateKey: string;
  /** One-line OpenSSH public key, `ssh-ed25519 AAAA… comment`. */
  publicKey: string;
}

// ssh2's keygen strips leading zero bytes from the 32-byte public key, so about one
// key in 256 comes out malformed and neither ssh2 nor sshd can load it
// (https://github.com/mscdex/ssh2/issues/1513). Drawing again until both halves parse
// sidesteps that; sixteen bad draws in a row would take a chance of 2^-128.
const KEYGEN_ATTEMPTS = 16;

export function generateEd25519KeyPair(comment: string): SshKeyPair {
  for (let attempt = 0; attempt < KEYGEN_ATTEMPTS; attempt++) {
    const pair = utils.generateKeyPairSync("ed25519", { comment });
    if (!(utils.parseKey(pair.private) instanceof Error) && !(utils.parseKey(pair.public) instanceof Error)) {
      return { privateKey: pair.private, publicKey: pair.public.trim() };
    }
  }
  throw new Error(`ssh2 produced ${KEYGEN_ATTEMPTS} unparsable ed25519 keys in a row`);
}

/** The base64 blob of an OpenSSH public key line, as the SSH wire protocol carries it. */
export function publicKeyBlob(publicKeyLine: string): Buffer {
  const blob = publicKeyLine.trim().split(/\s+/)[1];
  if (!blob) throw new Error(`"${publicKeyLine}" is not an OpenSSH public key line`);
  return Buffer.from(blob, "base64");
}

/** `[host]:port key` lines for OpenSSH's UserKnownHostsFile, so debug commands pin keys too. */
export function knownHostsLine(host: string, port: number, publicKeyLine: string): string {
  const [type, blob] = publicKeyLine.trim().split(/\s+/);
  const address = port === 22 ? host : `[${host}]:${port}`;
  return `${address} ${type} ${blob}`;
}

/** The public half of an OpenSSH private key, which carries it. */
export function publicKeyOf(privateKey: string, source: string): string {
  const parsed = utils.parseKey(privateKey);
  if (parsed instanceof Error) throw new Error(`${source} is not a usable SSH private key: ${parsed.message}`);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key) throw new Error(`${source} holds no SSH key`);
  return `${key.type} ${key.getPublicSSH().toString("base64")}`;
}
