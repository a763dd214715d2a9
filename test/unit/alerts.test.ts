/**
 * The alert rules: valid for promtool, every alert unit-tested both ways (one case
 * fires it, one keeps it quiet), those tests able to fail, and every alert linked
 * to a runbook that exists and has the four sections.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { ROOT } from '../helpers/cli.js';

const DIR = path.join(ROOT, 'deploy', 'prometheus');
const RULES = path.join(DIR, 'alerts.yml');
const TESTS = path.join(DIR, 'alerts.test.yml');

interface Rule {
  alert: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface PromtoolTest {
  name: string;
  alert_rule_test: { alertname: string; exp_alerts: unknown[] }[];
}

const rules: Rule[] = (parse(readFileSync(RULES, 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
const tests: PromtoolTest[] = (parse(readFileSync(TESTS, 'utf8')) as { tests: PromtoolTest[] }).tests;
const scratch = mkdtempSync(path.join(os.tmpdir(), 'dataplane-alerts-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function promtool(...args: string[]): { code: number | null; out: string } {
  const r = spawnSync('promtool', args, { encoding: 'utf8', cwd: scratch });
  return { code: r.status, out: r.stdout + r.stderr };
}

/** The unit tests run against a rules file whose every expression is replaced. */
function runWithExpr(expr: string): string {
  const doc = parse(readFileSync(RULES, 'utf8')) as { groups: { rules: Rule[] }[] };
  for (const g of doc.groups) for (const r of g.rules) r.expr = expr;
  writeFileSync(path.join(scratch, 'alerts.yml'), stringify(doc));
  copyFileSync(TESTS, path.join(scratch, 'alerts.test.yml'));
  const r = promtool('test', 'rules', 'alerts.test.yml');
  expect(r.code, 'promtool should fail with the rules broken').not.toBe(0);
  return r.out;
}

describe('alert rules', () => {
  it('pass promtool check rules', () => {
    const out = execFileSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' });
    expect(out).toContain(`SUCCESS: ${rules.length} rules found`);
  });

  it('pass their promtool unit tests', () => {
    const r = spawnSync('promtool', ['test', 'rules', TESTS], { encoding: 'utf8', cwd: DIR });
    expect(r.stdout + r.stderr, 'promtool test rules').toContain('SUCCESS');
    expect(r.status).toBe(0);
  });

  it('cover the required areas', () => {
    const names = rules.map((r) => r.alert);
    for (const required of [
      'DiskWillFillIn4h', // predictive disk: PostgreSQL data and WAL, JetStream store
      'DiskAlmostFull',
      'JetStreamStorageNearLimit',
      'HostMemoryLow',
      'RedisMemoryNearLimit',
      'RedisEvictions',
      'PostgresConnectionsNearLimit',
      'RedisConnectionsNearLimit',
      'NatsConnectionsNearLimit',
      'PostgresQueryErrors',
      'NatsPublishErrors',
      'DeadLettersGrowing',
      'PostgresReplicationLag',
      'NatsConsumerLag',
      'NatsRedeliveryStorm',
      'OutboxBacklogOld',
      'BackupTooOld',
      'TargetDown',
      'CertificateExpiresSoon',
    ]) {
      expect(names).toContain(required);
    }
    expect(new Set(names).size).toBe(names.length);
  });

  it.each(rules.map((r) => [r.alert, r] as const))('%s: severity, summary, a firing test and a quiet test', (name, rule) => {
    expect(['critical', 'warning']).toContain(rule.labels?.severity);
    expect(rule.annotations?.summary).toBeTruthy();
    const cases = tests.flatMap((t) => t.alert_rule_test.filter((a) => a.alertname === name).map((a) => ({ test: t.name, fires: a.exp_alerts.length > 0 })));
    expect(cases.some((c) => c.fires), `a test in alerts.test.yml that fires ${name}`).toBe(true);
    expect(cases.some((c) => !c.fires), `a test in alerts.test.yml that keeps ${name} quiet`).toBe(true);
  });

  it.each(rules.map((r) => [r.alert, r] as const))('%s: links a runbook with symptoms, checks, fixes and verification', (_name, rule) => {
    const url = rule.annotations?.runbook_url ?? '';
    expect(url).toMatch(/^docs\/runbooks\/[a-z0-9-]+\.md$/);
    const file = path.join(ROOT, url);
    expect(existsSync(file), `${url} exists`).toBe(true);
    const text = readFileSync(file, 'utf8');
    expect(text.split('\n')[0]).toBe(`# ${rule.alert}`);
    for (const section of ['## Symptoms', '## Checks', '## Fixes', '## Verify recovery']) expect(text, `${url}: ${section}`).toContain(section);
    // Relative links between runbooks resolve too.
    for (const [, target] of text.matchAll(/\]\(([a-z0-9-]+\.md)\)/g)) expect(existsSync(path.join(path.dirname(file), target!)), `${url} -> ${target}`).toBe(true);
  });

  it('are all listed in docs/observability.md with their runbooks', () => {
    const doc = readFileSync(path.join(ROOT, 'docs', 'observability.md'), 'utf8');
    for (const r of rules) expect(doc, r.alert).toContain(`| ${r.alert} |`);
    for (const r of rules) expect(doc, r.alert).toContain(r.annotations!.runbook_url!.replace('docs/', ''));
  });

  it('unit tests that can fail: rules that never fire break every firing test, rules that always fire break every quiet test', () => {
    const never = runWithExpr('vector(1) == 0');
    const always = runWithExpr('vector(1)');
    for (const t of tests) {
      const fires = t.alert_rule_test.some((a) => a.exp_alerts.length > 0);
      expect(fires ? never : always, `"${t.name}" must fail when its rule is broken`).toContain(`name: ${t.name},`);
    }
  });
});
