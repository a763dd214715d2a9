/**
 * Files encrypted to age recipients (https://age-encryption.org), through the npm
 * `age-encryption` package by age's author: the team opens them with the standard
 * `age` tools too. Only X25519 keys (`age1…`, `AGE-SECRET-KEY-1…`): the post-quantum
 * hybrid keys the package can also make are unknown to Debian's age 1.1.
 *
 * Files are armored (ASCII, "-----BEGIN AGE ENCRYPTED FILE-----"): they go into
 * repositories and chat. Large files (backups) are streamed, binary.
 */
import { createReadStream, createWriteStream, readFileSync, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Decrypter, Encrypter } from 'age-encryption';
import { DataplaneError } from '../errors/index.js';

/** Loaded on first use: every CLI command imports this module, few encrypt anything (~120 ms saved at start). */
const lib = () => import('age-encryption');

/** A recipient or identity that is not one, a file that does not decrypt, or one changed since. */
export class EncryptionError extends DataplaneError {
  readonly code = 'ENCRYPTION';
}

const RECIPIENT_RE = /^age1[02-9ac-hj-np-z]{58}$/;

export function checkRecipient(r: string): string | undefined {
  return RECIPIENT_RE.test(r) ? undefined : `"${r.length > 20 ? r.slice(0, 20) + '…' : r}" is not an age X25519 recipient (age1 followed by 58 characters, as age-keygen prints)`;
}

async function encrypter(recipients: string[]): Promise<Encrypter> {
  if (!recipients.length) throw new EncryptionError('no recipients: name at least one age public key (age1…)');
  const bad = recipients.map(checkRecipient).filter(Boolean);
  if (bad.length) throw new EncryptionError(bad.join('; '), { hint: 'generate a key pair with `dataplane credentials keygen` or age-keygen' });
  const e = new (await lib()).Encrypter();
  for (const r of recipients) e.addRecipient(r);
  return e;
}

/** A new identity (AGE-SECRET-KEY-1…) and its recipient (age1…). */
export async function generateKeyPair(): Promise<{ identity: string; recipient: string }> {
  const { generateX25519Identity, identityToRecipient } = await lib();
  const identity = await generateX25519Identity();
  return { identity, recipient: await identityToRecipient(identity) };
}

/**
 * The identities of an identity file as age-keygen writes it: comment lines, then
 * AGE-SECRET-KEY-1… lines. A file others may read is refused, like ssh does.
 */
export function readIdentityFile(file: string): string[] {
  let text: string;
  try {
    if ((statSync(file).mode & 0o077) !== 0) {
      throw new EncryptionError(`${file} can be read by other users`, { hint: `chmod 600 ${file}` });
    }
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof EncryptionError) throw e;
    throw new EncryptionError(`cannot read the identity file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const keys = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  if (!keys.length || keys.some((k) => !/^AGE-SECRET-KEY-1[0-9A-Z]+$/.test(k))) {
    throw new EncryptionError(`${file} is not an age identity file (AGE-SECRET-KEY-1… lines)`, { hint: 'pass the private key file, not the public age1… key' });
  }
  return keys;
}

async function decrypter(identities: string[]): Promise<Decrypter> {
  const d = new (await lib()).Decrypter();
  for (const i of identities) d.addIdentity(i);
  return d;
}

/** The library's errors, said for a person: which of the two things went wrong. */
export function decryptFailure(e: unknown, what: string): EncryptionError {
  const m = (e as Error).message ?? String(e);
  if (/no identity matched/i.test(m)) {
    return new EncryptionError(`${what} is not encrypted for this identity`, { hint: 'use the key of one of the recipients the file was made for' });
  }
  return new EncryptionError(`${what} does not decrypt: it is damaged or was changed after it was encrypted (${m})`, { hint: 'take the file again from where it was made' });
}

export async function encryptArmored(plaintext: string, recipients: string[]): Promise<string> {
  return (await lib()).armor.encode(await (await encrypter(recipients)).encrypt(plaintext));
}

export async function decryptArmored(text: string, identities: string[], what: string): Promise<string> {
  let bytes: Uint8Array;
  try {
    bytes = (await lib()).armor.decode(text);
  } catch (e) {
    throw decryptFailure(e, what);
  }
  try {
    return await (await decrypter(identities)).decrypt(bytes, 'text');
  } catch (e) {
    throw decryptFailure(e, what);
  }
}

/** `source` encrypted to the recipients, as a Node stream (binary age). */
export async function encryptStream(source: Readable, recipients: string[]): Promise<Readable> {
  const web = Readable.toWeb(source) as unknown as ReadableStream<Uint8Array>;
  return Readable.fromWeb((await (await encrypter(recipients)).encrypt(web)) as unknown as WebReadableStream<Uint8Array>);
}

/**
 * `source` decrypted, as a Node stream. Each chunk is authenticated as it is read: a
 * reader sees an error (turn it into words with decryptFailure) at the first changed byte.
 */
export async function decryptStream(source: Readable, identities: string[]): Promise<Readable> {
  const web = Readable.toWeb(source) as unknown as ReadableStream<Uint8Array>;
  return Readable.fromWeb((await (await decrypter(identities)).decrypt(web)) as unknown as WebReadableStream<Uint8Array>);
}

/** Encrypt a file to another (mode 0600), streaming. */
export async function encryptFile(from: string, to: string, recipients: string[]): Promise<void> {
  await pipeline(await encryptStream(createReadStream(from), recipients), createWriteStream(to, { mode: 0o600 }));
}

/** Decrypt a file to another (mode 0600); on a changed byte it throws, and the caller discards `to`. */
export async function decryptFile(from: string, to: string, identities: string[]): Promise<void> {
  try {
    await pipeline(await decryptStream(createReadStream(from), identities), createWriteStream(to, { mode: 0o600 }));
  } catch (e) {
    throw decryptFailure(e, from);
  }
}
