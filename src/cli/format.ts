/** Plain-text output for people: aligned tables, label/value blocks, short single-line values. */

export type Cell = string | number | null | undefined;

const maxCellWidth = 60;

/** Collapses whitespace and cuts long text with an ellipsis. */
export function oneLine(value: unknown, max = maxCellWidth): string {
  const text = (typeof value === 'string' ? value : value === undefined ? '' : JSON.stringify(value)).replace(/\s+/g, ' ').trim();
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** A value as JSON on one line, for diffs and tool arguments: "text" stays quoted, absent shows as (none). */
export function jsonValue(value: unknown, max = maxCellWidth): string {
  return value === undefined ? '(none)' : oneLine(JSON.stringify(value), max);
}

/** Columns padded to their widest cell; every cell on one line and at most 60 characters. */
export function table(headers: string[], rows: Cell[][]): string {
  const cells = [headers, ...rows.map((row) => row.map((cell) => oneLine(cell ?? '')))];
  const widths = headers.map((_, col) => Math.max(...cells.map((row) => (row[col] ?? '').length)));
  return cells
    .map((row) => row.map((cell, col) => (cell ?? '').padEnd(widths[col]!)).join('  ').trimEnd())
    .join('\n');
}

/** `label  value` lines with the values aligned; rows whose value is undefined are left out. */
export function fields(rows: [label: string, value: Cell][]): string {
  const shown = rows.filter(([, value]) => value !== undefined);
  const width = Math.max(...shown.map(([label]) => label.length));
  return shown.map(([label, value]) => `${label.padEnd(width)}  ${value ?? ''}`.trimEnd()).join('\n');
}

/** An API timestamp as `2025-01-31 12:00:05Z`. */
export function timestamp(value: string | null | undefined): string {
  if (!value) return '';
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? value : `${date.toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

/** Local wall-clock time for live output such as `runs watch`. */
export function clock(date = new Date()): string {
  return date.toTimeString().slice(0, 8);
}

export function usd(value: number | null | undefined): string {
  return `$${(value ?? 0).toFixed(6).replace(/0{1,4}$/, '')}`;
}
