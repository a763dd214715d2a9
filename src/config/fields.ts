/**
 * The flat list of configuration fields, derived from the schema's JSON Schema:
 * dotted path, environment variable, accepted JSON types, default and doc line.
 * Loading uses it to read the environment; `config docs` prints it.
 */
import { z } from 'zod';
import { configSchema } from './schema.js';

export type JsonType = 'string' | 'number' | 'integer' | 'boolean' | 'array' | 'object' | 'null';

export interface ConfigField {
  path: string[];
  /** e.g. DATAPLANE_REDIS_MAXMEMORY_POLICY */
  env: string;
  types: Set<JsonType>;
  enumValues?: unknown[];
  default?: unknown;
  description: string;
}

export interface ConfigSection {
  path: string[];
  description: string;
}

interface JsonSchemaNode {
  type?: JsonType | JsonType[];
  anyOf?: JsonSchemaNode[];
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, JsonSchemaNode>;
  additionalProperties?: boolean | JsonSchemaNode;
  default?: unknown;
  description?: string;
}

export const ENV_PREFIX = 'DATAPLANE_';

export function envName(path: readonly string[]): string {
  return ENV_PREFIX + path.map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_');
}

function typesOf(node: JsonSchemaNode, into = new Set<JsonType>()): Set<JsonType> {
  if (node.type) for (const t of Array.isArray(node.type) ? node.type : [node.type]) into.add(t);
  if (node.const !== undefined) into.add(typeof node.const as JsonType);
  if (node.enum) for (const v of node.enum) into.add(typeof v as JsonType);
  for (const alt of node.anyOf ?? []) typesOf(alt, into);
  return into;
}

function enumOf(node: JsonSchemaNode): unknown[] | undefined {
  if (node.enum) return node.enum;
  if (node.anyOf) {
    const values = node.anyOf.flatMap((a) => a.enum ?? (a.const !== undefined ? [a.const] : []));
    return values.length ? values : undefined;
  }
  return undefined;
}

let cache: { fields: ConfigField[]; sections: ConfigSection[] } | undefined;

function walk() {
  if (cache) return cache;
  const root = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchemaNode;
  const fields: ConfigField[] = [];
  const sections: ConfigSection[] = [];
  const visit = (node: JsonSchemaNode, path: string[]) => {
    if (node.properties && node.additionalProperties === false) {
      if (path.length) sections.push({ path, description: node.description ?? '' });
      for (const [key, child] of Object.entries(node.properties)) visit(child, [...path, key]);
      return;
    }
    const field: ConfigField = {
      path,
      env: envName(path),
      types: typesOf(node),
      default: node.default,
      description: node.description ?? '',
    };
    const values = enumOf(node);
    if (values) field.enumValues = values;
    fields.push(field);
  };
  visit(root, []);
  cache = { fields, sections };
  return cache;
}

export function configFields(): ConfigField[] {
  return walk().fields;
}

export function configSections(): ConfigSection[] {
  return walk().sections;
}
