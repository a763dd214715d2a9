/**
 * One place resolves the configuration, with this precedence:
 * explicit overrides (code, CLI) > environment variables > config file > defaults.
 * Every problem is collected and reported together, each with its path.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError, type ConfigIssue } from '../errors/index.js';
import { configFields, type ConfigField } from './fields.js';
import { configSchema, type Config } from './schema.js';

export const CONFIG_FILE_NAMES = ['dataplane.config.yaml', 'dataplane.config.yml'];

export interface LoadOptions {
  /** Explicit config file; otherwise DATAPLANE_CONFIG, then dataplane.config.yaml in cwd. */
  file?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Values that win over file and environment (deep-merged), e.g. from code or CLI flags. */
  overrides?: Record<string, unknown>;
}

/**
 * What the rest of the process needs from the environment besides configuration
 * fields, read here once: nothing below the CLI and this loader reads process.env.
 */
export interface RuntimeEnvironment {
  /** DATAPLANE_SECRET_<SERVICE>_<USER> values, by variable name (used instead of secrets.json; never stored). */
  secrets: Record<string, string>;
}

export const SECRET_ENV_PREFIX = 'DATAPLANE_SECRET_';

export interface LoadedConfig {
  config: Config;
  environment: RuntimeEnvironment;
  /** Absolute path of the file that was read, if any. */
  file: string | undefined;
  /** For fields not at their default: where the value came from ("file", or the env var name). */
  sources: Map<string, string>;
}

type Json = Record<string, unknown>;

function isPlainObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function locateConfigFile(opts: Pick<LoadOptions, 'file' | 'cwd' | 'env'>): string | undefined {
  const cwd = opts.cwd ?? process.cwd();
  const explicit = opts.file ?? opts.env?.DATAPLANE_CONFIG;
  if (explicit) return path.resolve(cwd, explicit);
  for (const name of CONFIG_FILE_NAMES) {
    const candidate = path.join(cwd, name);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

function readFile(file: string): Json {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError([{ path: '', message: `cannot read the config file: ${(e as Error).message}` }], file);
  }
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length) {
    throw new ConfigError(
      doc.errors.map((err) => ({ path: '', message: `YAML syntax: ${err.message.split('\n')[0]}` })),
      file,
    );
  }
  const value: unknown = doc.toJS() ?? {};
  if (!isPlainObject(value)) {
    throw new ConfigError([{ path: '', message: 'expected a mapping of sections (postgres:, redis:, nats: ...)' }], file);
  }
  return value;
}

function coerceEnv(field: ConfigField, raw: string): unknown {
  const t = field.types;
  const trimmed = raw.trim();
  if (t.has('boolean') && /^(true|false)$/i.test(trimmed)) return trimmed.toLowerCase() === 'true';
  if ((t.has('integer') || t.has('number')) && /^-?\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed);
  if (t.has('array')) return trimmed === '' ? [] : trimmed.split(',').map((s) => s.trim());
  if (t.has('object')) {
    try {
      return JSON.parse(trimmed);
    } catch {
      return raw; // the schema reports the wrong type, with the variable's name
    }
  }
  return raw;
}

function setAt(obj: Json, pathParts: readonly string[], value: unknown): void {
  let cur = obj;
  for (const key of pathParts.slice(0, -1)) {
    if (!isPlainObject(cur[key])) cur[key] = {};
    cur = cur[key] as Json;
  }
  cur[pathParts[pathParts.length - 1]!] = value;
}

/** Deep merge of plain objects; arrays and scalars in `over` replace those in `base`. */
export function mergeDeep(base: Json, over: Json): Json {
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(over)) {
    out[k] = isPlainObject(v) && isPlainObject(out[k]) ? mergeDeep(out[k] as Json, v) : v;
  }
  return out;
}

function leafPaths(obj: Json, prefix: string[] = []): string[][] {
  return Object.entries(obj).flatMap(([k, v]) =>
    isPlainObject(v) && Object.keys(v).length ? leafPaths(v, [...prefix, k]) : [[...prefix, k]],
  );
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) dp[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      dp[i]![j] = Math.min(dp[i - 1]![j]! + 1, dp[i]![j - 1]! + 1, dp[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
  return dp[a.length]![b.length]!;
}

function suggestion(parent: string[], key: string): string {
  const siblings = new Set<string>();
  for (const f of configFields()) {
    if (f.path.length > parent.length && parent.every((p, i) => f.path[i] === p)) siblings.add(f.path[parent.length]!);
  }
  let best: string | undefined;
  let bestD = Infinity;
  for (const s of siblings) {
    const d = editDistance(key.toLowerCase(), s.toLowerCase());
    if (d < bestD) [best, bestD] = [s, d];
  }
  return best && bestD <= Math.max(2, Math.floor(key.length / 3)) ? ` (did you mean ${best}?)` : '';
}

function toIssues(error: z.ZodError, sources: Map<string, string>): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const issue of error.issues) {
    const base = issue.path.map(String);
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        issues.push({ path: [...base, key].join('.'), message: `unknown field${suggestion(base, key)}` });
      }
      continue;
    }
    const p = base.join('.');
    const issueSource = sources.get(p);
    issues.push({
      path: p,
      message: friendly(issue),
      ...(issueSource && issueSource !== 'file' ? { source: issueSource } : {}),
    });
  }
  return issues;
}

/** Zod's default messages ("Invalid input: ...") are rewritten; messages the schema chose are kept. */
function friendly(issue: z.core.$ZodIssue): string {
  if (!/^(Invalid|Too (small|big))/.test(issue.message)) return issue.message;
  if (issue.code === 'invalid_type') {
    const got = issue.input === undefined ? 'nothing' : Array.isArray(issue.input) ? 'a list' : typeof issue.input;
    return `expected ${issue.expected === 'object' ? 'a mapping' : issue.expected === 'array' ? 'a list' : `a ${issue.expected}`}, got ${got}`;
  }
  if (issue.code === 'invalid_value') {
    return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
  }
  if (issue.code === 'too_small' || issue.code === 'too_big') {
    const bound = issue.code === 'too_small' ? issue.minimum : issue.maximum;
    const word = issue.code === 'too_small' ? 'at least' : 'at most';
    return issue.origin === 'array' ? `expected ${word} ${bound} entries` : `expected ${word} ${bound}`;
  }
  return issue.message;
}

/**
 * Load and validate. Throws ConfigError listing every problem; starts nothing.
 */
export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  const cwd = opts.cwd ?? process.cwd();
  const env = opts.env ?? process.env;
  const file = locateConfigFile({ ...opts, cwd, env });
  if (opts.file && file && !existsSync(file)) {
    throw new ConfigError([{ path: '', message: `config file ${file} does not exist` }]);
  }
  let raw: Json = file ? readFile(file) : {};
  const sources = new Map<string, string>();
  for (const p of leafPaths(raw)) sources.set(p.join('.'), 'file');

  for (const field of configFields()) {
    const value = env[field.env];
    if (value === undefined) continue;
    setAt(raw, field.path, coerceEnv(field, value));
    sources.set(field.path.join('.'), field.env);
  }
  if (opts.overrides) {
    raw = mergeDeep(raw, opts.overrides);
    for (const p of leafPaths(opts.overrides)) sources.set(p.join('.'), 'override');
  }

  const result = configSchema.safeParse(raw, { reportInput: true });
  if (!result.success) throw new ConfigError(toIssues(result.error, sources), file);

  const config = resolvePaths(result.data, file ? path.dirname(file) : cwd);
  const secrets = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[0].startsWith(SECRET_ENV_PREFIX) && e[1] !== undefined));
  return { config, environment: { secrets }, file, sources };
}

/** Paths in the config are relative to the config file's folder (or cwd without one). */
function resolvePaths(config: Config, baseDir: string): Config {
  config.stateDir = path.resolve(baseDir, config.stateDir);
  if (config.postgres.migrationsDir !== 'builtin') config.postgres.migrationsDir = path.resolve(baseDir, config.postgres.migrationsDir);
  if (config.declarations !== 'builtin') config.declarations = path.resolve(baseDir, config.declarations);
  if (config.postgres.binDir !== 'auto') config.postgres.binDir = path.resolve(baseDir, config.postgres.binDir);
  const b = config.backup;
  if (b.encryption.identityFile) b.encryption.identityFile = path.resolve(baseDir, b.encryption.identityFile);
  if (b.offsite.destination.startsWith('/')) b.offsite.destination = path.resolve(b.offsite.destination);
  if (b.offsite.sshIdentityFile) b.offsite.sshIdentityFile = path.resolve(baseDir, b.offsite.sshIdentityFile);
  if (b.offsite.sshKnownHostsFile) b.offsite.sshKnownHostsFile = path.resolve(baseDir, b.offsite.sshKnownHostsFile);
  return config;
}

/** Validate a config object from code (the ephemeral stack, tests). */
export function parseConfig(input: unknown, baseDir = process.cwd()): Config {
  const result = configSchema.safeParse(input ?? {}, { reportInput: true });
  if (!result.success) throw new ConfigError(toIssues(result.error, new Map()));
  return resolvePaths(result.data, baseDir);
}
