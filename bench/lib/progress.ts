/**
 * A one-line progress bar on stderr. On a terminal it redraws in place (at most 10 times a second);
 * otherwise (CI, a pipe) it prints a line at every 10%, so logs stay readable.
 */
export type Progress = ReturnType<typeof progressBar>;

export function progressBar(label: string, total: number, stream: NodeJS.WriteStream = process.stderr) {
  const width = 28;
  const started = Date.now();
  let lastDraw = 0;
  let lastDecile = -1;
  const line = (done: number, extra: string) => {
    const ratio = total > 0 ? Math.min(1, done / total) : 1;
    const filled = Math.round(ratio * width);
    const elapsed = (Date.now() - started) / 1000;
    return `${label} [${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${done}/${total} ${elapsed.toFixed(0)}s${extra ? `  ${extra}` : ''}`;
  };
  return {
    update(done: number, extra = '') {
      if (stream.isTTY) {
        if (Date.now() - lastDraw < 100 && done < total) return;
        lastDraw = Date.now();
        stream.write(`\r${line(done, extra)}\x1b[K`);
      } else {
        const decile = Math.floor((10 * done) / Math.max(1, total));
        if (decile === lastDecile) return;
        lastDecile = decile;
        stream.write(`${line(done, extra)}\n`);
      }
    },
    finish(done: number, extra = '') {
      stream.write(stream.isTTY ? `\r${line(done, extra)}\x1b[K\n` : `${line(done, extra)}\n`);
    },
  };
}
