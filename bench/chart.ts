/** A self-contained SVG bar chart of ratios, with a reference line at 1.0. */

export interface Bar {
  readonly label: string
  readonly value: number
}

// LEFT fits a label such as "Effect floor, promise".
const WIDTH = 680
const LEFT = 190
const RIGHT = 70
const TOP = 56
const BAR = 26
const GAP = 14
const BOTTOM = 60

const escape = (text: string): string =>
  text.replace(/[&<>"]/g, (char) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;" })[char]!)

const round = (value: number): number => Math.round(value * 10) / 10

export const barChart = (options: {
  readonly title: string
  readonly subtitle: string
  readonly referenceLabel: string
  readonly bars: ReadonlyArray<Bar>
}): string => {
  const { bars } = options
  // Whole quarter steps, leaving room past the longest bar and past 1.0.
  const max = Math.ceil(Math.max(1, ...bars.map((bar) => bar.value)) * 1.1 * 4) / 4
  const plot = WIDTH - LEFT - RIGHT
  const x = (value: number) => round(LEFT + (value / max) * plot)
  const height = TOP + bars.length * (BAR + GAP) - GAP + BOTTOM
  const axisY = TOP + bars.length * (BAR + GAP) - GAP + 8

  const ticks = Array.from({ length: Math.round(max / 0.25) + 1 }, (_, i) => i * 0.25).map((tick) =>
    `<line x1="${x(tick)}" y1="${TOP - 6}" x2="${x(tick)}" y2="${axisY}" class="grid"/>` +
    `<text x="${x(tick)}" y="${axisY + 16}" class="tick">${tick.toFixed(2)}</text>`
  )
  const rows = bars.map((bar, i) => {
    const y = TOP + i * (BAR + GAP)
    const middle = y + BAR / 2 + 4
    return `<text x="${LEFT - 10}" y="${middle}" class="label">${escape(bar.label)}</text>` +
      `<rect x="${LEFT}" y="${y}" width="${round(x(bar.value) - LEFT)}" height="${BAR}" rx="3" class="${
        bar.value >= 1 ? "bar" : "bar below"
      }"/>` +
      `<text x="${x(bar.value) + 6}" y="${middle}" class="value">${bar.value.toFixed(2)}×</text>`
  })
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" role="img" aria-label="${
      escape(options.title)
    }">`,
    `<style>`,
    `text { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; font-size: 13px; fill: #222; }`,
    `.title { font-size: 15px; font-weight: 600; } .subtitle { fill: #666; font-size: 12px; }`,
    `.label { text-anchor: end; } .tick { text-anchor: middle; fill: #777; font-size: 11px; }`,
    `.grid { stroke: #eee; } .bar { fill: #3b7dd8; } .below { fill: #d8833b; }`,
    `.reference { stroke: #222; stroke-width: 1.5; stroke-dasharray: 5 4; } .reference-label { text-anchor: middle; font-size: 11px; fill: #222; }`,
    `</style>`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="16" y="24" class="title">${escape(options.title)}</text>`,
    `<text x="16" y="42" class="subtitle">${escape(options.subtitle)}</text>`,
    ...ticks,
    ...rows,
    `<line x1="${x(1)}" y1="${TOP - 8}" x2="${x(1)}" y2="${axisY + 4}" class="reference"/>`,
    `<text x="${x(1)}" y="${axisY + 34}" class="reference-label">${escape(options.referenceLabel)}</text>`,
    `</svg>`,
    ``
  ].join("\n")
}
