/**
 * Progress on stderr: a redrawn bar with rate and ETA on a terminal, a plain line every few
 * seconds otherwise (logs, CI), so neither floods nor stays silent.
 */
export interface ProgressOptions {
  label: string;
  total?: number;
  unit: string;
  stream?: NodeJS.WriteStream;
  intervalMs?: number;
}

const number = (n: number) => Math.round(n).toLocaleString('en-US');

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

export class Progress {
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;
  private readonly intervalMs: number;
  private readonly started = performance.now();
  private lastDraw = 0;
  private done = 0;
  private drawn = false;

  constructor(private readonly options: ProgressOptions) {
    this.stream = options.stream ?? process.stderr;
    this.tty = this.stream.isTTY === true;
    this.intervalMs =
      options.intervalMs ??
      (this.tty ? 100 : Number(process.env.BULK_PROGRESS_INTERVAL_MS ?? 5_000));
  }

  get elapsedSeconds(): number {
    return (performance.now() - this.started) / 1000;
  }

  rate(): number {
    const seconds = this.elapsedSeconds;
    return seconds > 0 ? this.done / seconds : 0;
  }

  update(done: number): void {
    this.done = done;
    const now = performance.now();
    if (now - this.lastDraw < this.intervalMs) return;
    this.lastDraw = now;
    this.draw();
  }

  private draw(): void {
    const { label, total, unit } = this.options;
    const rate = this.rate();
    const eta = total !== undefined && rate > 0 ? (total - this.done) / rate : Number.NaN;
    const counts =
      total !== undefined ? `${number(this.done)}/${number(total)}` : number(this.done);
    const tail = `${counts} ${unit}  ${number(rate)}/s  ETA ${formatDuration(eta)}`;
    if (this.tty) {
      const fraction = total ? Math.min(1, this.done / total) : 0;
      const width = 30;
      const filled = Math.round(fraction * width);
      const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}%`;
      this.stream.write(`\r\x1b[2K${label} ${bar} ${tail}`);
      this.drawn = true;
    } else {
      this.stream.write(`${label}: ${tail}\n`);
    }
  }

  /** Clears the bar so the summary line starts clean. */
  stop(): void {
    if (this.tty && this.drawn) this.stream.write('\r\x1b[2K');
  }
}
