import { diffLines } from 'diff';

interface Row {
  readonly left: string | undefined;
  readonly right: string | undefined;
  readonly kind: 'same' | 'changed' | 'removed' | 'added';
  readonly leftNo: number | undefined;
  readonly rightNo: number | undefined;
}

/**
 * The rows of a side-by-side view of two texts: unchanged lines on both sides, a run of
 * removed lines next to the run of added lines that replaced it, and a lone removal or
 * addition against an empty cell.
 */
export function sideBySideRows(before: string, after: string): Row[] {
  const rows: Row[] = [];
  let leftNo = 0;
  let rightNo = 0;
  const parts = diffLines(before, after);
  const lines = (value: string) => value.replace(/\n$/, '').split('\n');
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (!part.added && !part.removed) {
      for (const line of lines(part.value)) rows.push({ left: line, right: line, kind: 'same', leftNo: ++leftNo, rightNo: ++rightNo });
      continue;
    }
    if (part.removed) {
      const next = parts[i + 1];
      const removed = lines(part.value);
      const added = next?.added === true ? lines(next.value) : [];
      if (next?.added === true) i++;
      for (let j = 0; j < Math.max(removed.length, added.length); j++) {
        const left = removed[j];
        const right = added[j];
        rows.push({
          left,
          right,
          kind: left !== undefined && right !== undefined ? 'changed' : left !== undefined ? 'removed' : 'added',
          leftNo: left === undefined ? undefined : ++leftNo,
          rightNo: right === undefined ? undefined : ++rightNo,
        });
      }
      continue;
    }
    for (const line of lines(part.value)) rows.push({ left: undefined, right: line, kind: 'added', leftNo: undefined, rightNo: ++rightNo });
  }
  return rows;
}

/** Two JSON documents side by side, pretty-printed, the lines that differ marked. */
export function SideBySide({ before, after, leftTitle, rightTitle }: { before: unknown; after: unknown; leftTitle: string; rightTitle: string }) {
  const rows = sideBySideRows(`${JSON.stringify(before, null, 2)}\n`, `${JSON.stringify(after, null, 2)}\n`);
  return (
    <table class="side-by-side" aria-label={`${leftTitle} against ${rightTitle}`}>
      <thead>
        <tr>
          <th colSpan={2}>{leftTitle}</th>
          <th colSpan={2}>{rightTitle}</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((row, i) => (
          <tr key={i} class={row.kind}>
            <td class="no">{row.leftNo}</td>
            <td class={`code ${row.kind === 'changed' || row.kind === 'removed' ? 'del' : ''}`}>{row.left ?? ''}</td>
            <td class="no">{row.rightNo}</td>
            <td class={`code ${row.kind === 'changed' || row.kind === 'added' ? 'ins' : ''}`}>{row.right ?? ''}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
