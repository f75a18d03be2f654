import { describe, expect, it } from 'vitest';
import { formatDuration, Progress } from '../../src/bulk/progress.js';

function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  const stream = {
    isTTY,
    write: (text: string) => writes.push(text),
  } as unknown as NodeJS.WriteStream;
  return { stream, writes };
}

describe('progress output', () => {
  it('writes plain lines with counts, rate and ETA when stderr is not a terminal', async () => {
    const { stream, writes } = fakeStream(false);
    const progress = new Progress({
      label: 'import touch',
      total: 1000,
      unit: 'lines',
      stream,
      intervalMs: 0,
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    progress.update(250);
    progress.stop();
    expect(writes).toHaveLength(1);
    expect(writes[0]).toMatch(/^import touch: 250\/1,000 lines {2}[\d,]+\/s {2}ETA [\d.]+s\n$/);
  });

  it('redraws one bar in place on a terminal and clears it at the end', async () => {
    const { stream, writes } = fakeStream(true);
    const progress = new Progress({
      label: 'import create',
      total: 200,
      unit: 'lines',
      stream,
      intervalMs: 0,
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    progress.update(100);
    progress.update(200);
    progress.stop();
    expect(writes[0]?.startsWith('\r\u001b[2K')).toBe(true);
    expect(writes[0]).toMatch(/import create \[#{15}\.{15}\] {2}50% 100\/200 lines/);
    expect(writes[1]).toMatch(/\[#{30}\] 100% 200\/200 lines .*ETA 0\.0s$/);
    expect(writes.at(-1)).toBe('\r\x1b[2K');
  });

  it('throttles redraws to its interval', () => {
    const { stream, writes } = fakeStream(false);
    const progress = new Progress({ label: 'x', unit: 'lines', stream, intervalMs: 60_000 });
    for (let i = 0; i < 1000; i += 1) progress.update(i);
    expect(writes.length).toBeLessThanOrEqual(1);
  });

  it('formats durations for humans', () => {
    expect([5.25, 42, 125, 7300, Number.NaN].map(formatDuration)).toEqual([
      '5.3s',
      '42s',
      '2m05s',
      '2h01m',
      '?',
    ]);
  });
});
