/** Small helpers that talk to the servers of a CLI-started stack with its generated credentials. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Credential } from '../../src/connect/credentials.js';
import type { Project } from './cli.js';

export async function credentials(project: Project): Promise<Credential[]> {
  const r = await project.run(['credentials', '--reveal', '--json']);
  if (r.code !== 0) throw new Error(`credentials failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Credential[];
}

export function find(creds: Credential[], service: string, user: string): Credential {
  const c = creds.find((x) => x.service === service && x.user === user);
  if (!c) throw new Error(`no credential for ${service}/${user}`);
  return c;
}

export function pidOf(project: Project, service: string): number {
  return (JSON.parse(readFileSync(path.join(project.stateDir, 'run', `${service}.pid`), 'utf8')) as { pid: number }).pid;
}
