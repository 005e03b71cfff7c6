import { sideBySideRows } from './side-by-side-rows.ts';

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
