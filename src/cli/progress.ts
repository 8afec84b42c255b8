/**
 * Draws progress events: one ora spinner on a TTY (its text lists every running item), one plain
 * line per finished item otherwise (CI), nothing at all with --json. A spinner is only ever
 * created before close(); once the command has ended nothing keeps drawing, so the process can exit.
 */
import type { ProgressEvent } from './context.js';
import { bytesHuman } from './render.js';

type Spinner = { text: string; succeed(t?: string): void; fail(t?: string): void; stop(): void };
type OraFactory = (o: object) => { start(): Spinner };

export type ProgressMode = 'tty' | 'lines' | 'silent';

/** Spinners need a real terminal that reports its width; a 0-column pseudo-terminal gets lines. */
export function progressMode(json: boolean, stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv = process.env): ProgressMode {
  if (json) return 'silent';
  const cols = stream.columns ?? 0;
  return stream.isTTY === true && cols > 0 && !env['CI'] ? 'tty' : 'lines';
}

export class ProgressRenderer {
  private spinner: Spinner | undefined;
  private readonly active = new Map<string, string>();
  private readonly started = new Map<string, number>();
  private ora: OraFactory | undefined;
  private loading: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly mode: ProgressMode, private readonly color: boolean) {}

  handle(e: ProgressEvent): void {
    if (this.mode === 'silent' || this.closed) return;
    if (this.mode === 'lines') {
      if (e.phase === 'start') this.started.set(e.id, Date.now());
      if (e.phase === 'done' || e.phase === 'fail' || e.phase === 'info') {
        const t0 = this.started.get(e.id);
        const secs = t0 === undefined ? '' : ` in ${((Date.now() - t0) / 1000).toFixed(1)}s`;
        const size = e.bytes !== undefined ? ` (${bytesHuman(e.bytes)})` : '';
        process.stderr.write(`${e.phase === 'fail' ? 'FAIL' : e.phase === 'info' ? '  ' : 'ok  '} ${e.text}${size}${e.phase === 'info' ? '' : secs}\n`);
      }
      return;
    }
    this.tty(e);
  }

  private tty(e: ProgressEvent): void {
    if (e.phase === 'info') { this.spinner?.stop(); process.stderr.write(`  ${e.text}\n`); this.redraw(); return; }
    if (e.phase === 'start' || e.phase === 'progress') {
      this.active.set(e.id, e.text);
      this.redraw();
      return;
    }
    if (!this.active.has(e.id)) return;
    this.active.delete(e.id);
    if (this.spinner) {
      // finish this item's line, then carry on with the others
      const s = this.spinner;
      this.spinner = undefined;
      s.text = e.text;
      if (e.phase === 'done') s.succeed(e.text); else s.fail(e.text);
    } else {
      process.stderr.write(`${e.phase === 'done' ? '✔' : '✖'} ${e.text}\n`);
    }
    this.redraw();
  }

  private redraw(): void {
    if (this.closed || this.active.size === 0) { this.spinner?.stop(); this.spinner = undefined; return; }
    const text = [...this.active.values()].join('\n');
    if (this.spinner) { this.spinner.text = text; return; }
    if (this.ora) {
      // discardStdin off: Ctrl-C must stay an ordinary SIGINT
      this.spinner = this.ora({ text, stream: process.stderr, color: this.color ? 'cyan' : false, discardStdin: false }).start();
      return;
    }
    this.loading ??= import('ora').then((m) => { this.ora = (m as unknown as { default: OraFactory }).default; this.redraw(); }, () => { /* no spinner then */ });
  }

  /** The command is over: stop drawing for good. */
  stopAll(): void {
    this.closed = true;
    this.active.clear();
    this.spinner?.stop();
    this.spinner = undefined;
  }
}
