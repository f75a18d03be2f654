/** A line diff (longest common subsequence) of two schema texts, for `authz schema diff`. */
export type DiffLine = { op: ' ' | '-' | '+'; text: string };

/**
 * A schema in a canonical shape: comments and blank lines dropped, whitespace collapsed, and
 * definitions sorted by name (SpiceDB returns them sorted and reformatted, so a plain text
 * diff against schema.zed would mostly show formatting).
 */
export function canonicalSchema(text: string): string[] {
  const source = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  const blocks: Array<{ name: string; lines: string[] }> = [];
  let depth = 0;
  let current: { name: string; lines: string[] } | undefined;
  for (const raw of source.split(/\r?\n/)) {
    const line = raw.trim().replace(/\s+/g, ' ');
    if (line === '') continue;
    if (depth === 0) {
      current = { name: line.replace(/\s*\{$/, ''), lines: [line] };
      blocks.push(current);
    } else {
      current?.lines.push(line === '}' && depth === 1 ? line : `  ${line}`);
    }
    depth += (line.match(/\{/g)?.length ?? 0) - (line.match(/\}/g)?.length ?? 0);
  }
  return blocks
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((block) => [...block.lines, '']);
}

export function diffLines(before: string, after: string): DiffLine[] {
  const a = canonicalSchema(before);
  const b = canonicalSchema(after);
  // lengths[i][j] = LCS length of a[i..] and b[j..]
  const lengths = Array.from({ length: a.length + 1 }, () =>
    new Array<number>(b.length + 1).fill(0),
  );
  for (let i = a.length - 1; i >= 0; i -= 1) {
    for (let j = b.length - 1; j >= 0; j -= 1) {
      const row = lengths[i]!;
      row[j] =
        a[i] === b[j]
          ? (lengths[i + 1]![j + 1] ?? 0) + 1
          : Math.max(lengths[i + 1]![j] ?? 0, row[j + 1] ?? 0);
    }
  }
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      out.push({ op: ' ', text: a[i]! });
      i += 1;
      j += 1;
    } else if ((lengths[i + 1]![j] ?? 0) >= (lengths[i]![j + 1] ?? 0)) {
      out.push({ op: '-', text: a[i]! });
      i += 1;
    } else {
      out.push({ op: '+', text: b[j]! });
      j += 1;
    }
  }
  while (i < a.length) out.push({ op: '-', text: a[i++]! });
  while (j < b.length) out.push({ op: '+', text: b[j++]! });
  return out;
}

/** Changed lines with up to `context` unchanged lines around them, `@@` between hunks. */
export function formatDiff(lines: DiffLine[], context = 2): string[] {
  const keep = lines.map((line, index) =>
    lines.slice(Math.max(0, index - context), index + context + 1).some((near) => near.op !== ' '),
  );
  const out: string[] = [];
  let skipped = false;
  lines.forEach((line, index) => {
    if (!keep[index]) {
      skipped = true;
      return;
    }
    if (skipped || out.length === 0) out.push('@@');
    skipped = false;
    out.push(`${line.op}${line.text}`);
  });
  return out;
}
