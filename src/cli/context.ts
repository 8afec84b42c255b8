/** What a command gets from the CLI: where to write, whether to draw, and how to report progress. */
export interface ProgressEvent {
  /** a stable id for the thing in progress (a file, a step) */
  id: string;
  phase: 'start' | 'progress' | 'done' | 'fail' | 'info';
  text: string;
  bytes?: number;
  total?: number;
}

export interface CommandContext {
  cwd: string;
  json: boolean;
  /** a person at a terminal: spinners allowed */
  interactive: boolean;
  color: boolean;
  progress(e: ProgressEvent): void;
  /** a line for the person (stderr), never for machines */
  info(line: string): void;
}

export interface CommandResult<T = unknown> {
  /** what --json prints */
  data: T;
  /** what a person sees */
  text: string;
  /** non-zero when the command ran but its verdict is a failure (smoke) */
  exitCode?: number;
}
