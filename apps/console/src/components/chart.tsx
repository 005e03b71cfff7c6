import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface Series {
  readonly label: string;
  /** [time ms, value] pairs. */
  readonly points: readonly (readonly [number, number])[];
}

const COLOURS = ['#2e7d32', '#c62828', '#ef6c00', '#6a1b9a', '#1565c0', '#00838f', '#4e342e', '#9e9d24'];

/**
 * Lines over time (uPlot), one per series, on one shared time axis: series sampled at
 * other times are aligned by their timestamps, a missing sample left as a gap.
 */
export function TimeChart({ series, height = 220, unit, from, to }: { series: readonly Series[]; height?: number; unit: string; from?: number; to?: number }) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = host.current;
    if (element === null) return;
    const times = [...new Set(series.flatMap((s) => s.points.map(([t]) => t)))].sort((a, b) => a - b);
    const columns = series.map((s) => {
      const byTime = new Map(s.points.map(([t, v]) => [t, v]));
      return times.map((t) => byTime.get(t) ?? null);
    });
    const chart = new uPlot(
      {
        width: Math.max(320, element.clientWidth),
        height,
        series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: COLOURS[i % COLOURS.length] ?? '#333', width: 2, points: { show: times.length < 30 } }))],
        axes: [{}, { label: unit, size: 60 }],
        // The whole window asked for, not only where samples fall.
        scales: { x: from === undefined || to === undefined ? { time: true } : { time: true, range: [from / 1000, to / 1000] } },
      },
      [times.map((t) => t / 1000), ...columns],
      element,
    );
    return () => chart.destroy();
  }, [series, height, unit, from, to]);
  return <div class="chart" ref={host} />;
}
