/**
 * Draws progress events: an ora spinner per running item on a TTY, one plain line per finished
 * item otherwise (CI), nothing at all with --json.
 */
import type { ProgressEvent } from './context.js';
import { bytesHuman } from './render.js';

type Spinner = { text: string; succeed(t?: string): void; fail(t?: string): void; stop(): void };

export class ProgressRenderer {
  private spinners = new Map<string, Spinner>();
  private oraMod: Promise<{ default: (o: object) => { start(): Spinner } }> | undefined;
  private started = new Map<string, number>();

  constructor(private readonly mode: 'tty' | 'lines' | 'silent', private readonly color: boolean) {}

  handle(e: ProgressEvent): void {
    if (this.mode === 'silent') return;
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
    void this.tty(e);
  }

  private async tty(e: ProgressEvent): Promise<void> {
    this.oraMod ??= import('ora') as never;
    const ora = (await this.oraMod).default;
    let s = this.spinners.get(e.id);
    if (!s && (e.phase === 'start' || e.phase === 'progress')) {
      s = ora({ text: e.text, stream: process.stderr, color: this.color ? 'cyan' : false, isEnabled: true }).start();
      this.spinners.set(e.id, s);
      return;
    }
    if (e.phase === 'info') { process.stderr.write(`  ${e.text}\n`); return; }
    if (!s) return;
    if (e.phase === 'progress') s.text = e.text;
    else if (e.phase === 'done') { s.succeed(e.text); this.spinners.delete(e.id); }
    else if (e.phase === 'fail') { s.fail(e.text); this.spinners.delete(e.id); }
  }

  stopAll(): void {
    for (const s of this.spinners.values()) s.stop();
    this.spinners.clear();
  }
}
