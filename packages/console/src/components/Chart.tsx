// A uPlot time-series chart sized to its container. uPlot draws on canvas and styles its DOM
// through CSSOM (element.style), which the console's CSP allows.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

export interface ChartSeries {
  label: string;
  color: string;
}

export interface ChartProps {
  /** x: unix seconds; then one array per series. */
  data: uPlot.AlignedData;
  series: ChartSeries[];
  testid: string;
  label: string;
  height?: number;
}

export const PALETTE = ['#2f7d32', '#c62828', '#1565c0', '#ef6c00', '#6a1b9a', '#00838f', '#ad1457', '#5d4037', '#558b2f', '#283593', '#f9a825', '#37474f'];

export function Chart({ data, series, testid, label, height = 220 }: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = series.map((s) => `${s.label}|${s.color}`).join(',');

  // (Re)create when the set of series changes; otherwise just feed new data.
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const opts: uPlot.Options = {
      width: Math.max(el.clientWidth, 300),
      height,
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2, points: { show: false } }))],
      axes: [{}, { size: 50 }],
      scales: { x: { time: true } },
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
    };
    const u = new uPlot(opts, data, el);
    plot.current = u;
    const ro = new ResizeObserver(() => {
      const w = Math.max(el.clientWidth, 300);
      if (w !== u.width) u.setSize({ width: w, height });
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps -- shape stands for series; new data goes through setData below, not a new plot
  }, [shape, height]);

  useEffect(() => {
    plot.current?.setData(data);
  }, [data]);

  return <div class="chart" ref={box} data-testid={testid} role="img" aria-label={label} />;
}
