import { diffLines } from 'diff';

export interface Row {
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
