export interface ProgressOutput {
  write(text: string): unknown;
  columns?: number;
}

const WIDTH = 28;
const REDRAW_MS = 100;

export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** One progress line: `name [=====>      ]  42%  4.2 MB / 10.0 MB  12.3 MB/s`. */
export function progressLine(
  label: string,
  sent: number,
  total: number | undefined,
  elapsedMs: number,
): string {
  const rate = elapsedMs > 0 ? `${formatBytes((sent * 1000) / elapsedMs)}/s` : '';
  if (total === undefined || total === 0) return `${label}  ${formatBytes(sent)}  ${rate}`.trimEnd();
  const fraction = Math.min(1, sent / total);
  const filled = Math.round(fraction * WIDTH);
  const bar = filled >= WIDTH ? '='.repeat(WIDTH) : `${'='.repeat(filled)}>${' '.repeat(WIDTH - filled - 1)}`;
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  return `${label} [${bar}] ${percent}  ${formatBytes(sent)} / ${formatBytes(total)}  ${rate}`.trimEnd();
}

/**
 * An upload progress bar redrawn in place on stderr (carriage return, no newline until done), at
 * most every 100 ms so a fast local upload does not spend its time drawing.
 */
export class ProgressBar {
  readonly #output: ProgressOutput;
  readonly #label: string;
  readonly #started = performance.now();
  #lastDraw = 0;
  #lastLength = 0;
  #sent = 0;
  #total: number | undefined;

  constructor(output: ProgressOutput, label: string) {
    this.#output = output;
    this.#label = label.length > 40 ? `…${label.slice(-39)}` : label;
  }

  update(sent: number, total: number | undefined): void {
    this.#sent = sent;
    this.#total = total;
    const now = performance.now();
    if (now - this.#lastDraw >= REDRAW_MS) this.#draw(now);
  }

  /** Draws the final state and ends the line. */
  finish(): void {
    this.#draw(performance.now());
    this.#output.write('\n');
  }

  #draw(now: number): void {
    this.#lastDraw = now;
    let line = progressLine(this.#label, this.#sent, this.#total, now - this.#started);
    if (this.#output.columns && line.length >= this.#output.columns)
      line = line.slice(0, this.#output.columns - 1);
    // Pad over the remains of a longer previous line.
    this.#output.write(`\r${line.padEnd(this.#lastLength)}`);
    this.#lastLength = line.length;
  }
}
