/** Terminal output: tables, progress lines, status colours (only on a TTY without NO_COLOR). */
import { styleText } from 'node:util';

type Style = Parameters<typeof styleText>[0];

/** Whether the environment allows colour at all (NO_COLOR, TERM=dumb): set once by the CLI entry. */
let colorAllowed = true;

export function allowColor(allowed: boolean): void {
  colorAllowed = allowed;
}

function colorOn(stream: NodeJS.WriteStream): boolean {
  return colorAllowed && Boolean(stream.isTTY);
}

export function paint(text: string, style: Style, stream: NodeJS.WriteStream = process.stdout): string {
  return colorOn(stream) ? styleText(style, text) : text;
}

const STATUS_STYLE: Record<string, Style> = {
  running: 'green',
  up: 'green',
  ok: 'green',
  ready: 'green',
  warn: 'yellow',
  restarting: 'yellow',
  starting: 'yellow',
  unhealthy: 'red',
  down: 'red',
  fail: 'red',
  stopped: 'gray',
};

export function status(word: string): string {
  const style = STATUS_STYLE[word];
  return style ? paint(word, style) : word;
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;
const visible = (s: string) => s.replace(ANSI, '').length;

/**
 * A plain aligned table. Hand-written: it is a dozen lines, and table libraries
 * bring box drawing and wrapping this CLI does not want in scripts' way.
 */
export function table(headers: string[], rows: (string | number | undefined)[][]): string {
  const cells = rows.map((r) => r.map((c) => (c === undefined || c === '' ? '-' : String(c))));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => visible(r[i] ?? ''))));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat(widths[i]! - visible(c))))
      .join('  ')
      .trimEnd();
  return [line(headers.map((h) => paint(h, 'bold'))), ...cells.map(line)].join('\n');
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** Progress of long steps goes to stderr, so stdout stays clean for tables and JSON. */
export function progress(msg: string): void {
  process.stderr.write(`${paint('•', 'cyan', process.stderr)} ${msg}\n`);
}
