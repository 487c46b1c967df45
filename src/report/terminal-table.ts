/**
 * Terminal tables that fit the terminal: a table wider than the terminal has its columns
 * narrowed and its cells wrapped at spaces, and never narrower than a cell's longest word, so
 * an id or a number is never cut (a table that cannot fit then runs wider, whole).
 */
import { terminalText } from './safe-text.js';
import Table from 'cli-table3';

/** cli-table3's padding: one space either side of every cell. */
const PADDING = 2;
const STYLE = { head: [], border: [] };

/** The terminal's width, or undefined where output is not a terminal (logs and pipes keep whole rows). */
export function terminalColumns(): number | undefined {
  const columns = process.stdout.columns;
  return columns !== undefined && columns > 0 ? columns : undefined;
}

const lineLengths = (cell: string): number[] => cell.split('\n').map((l) => [...l].length);
const wordLengths = (cell: string): number[] => cell.split(/\s+/).map((w) => [...w].length);

interface Columns {
  natural: number[];
  least: number[];
}

function measure(head: string[], rows: string[][]): Columns {
  const cells = (i: number): string[] => [head[i], ...rows.map((r) => r[i] ?? '')];
  return {
    natural: head.map((_, i) => Math.max(...cells(i).flatMap(lineLengths)) + PADDING),
    least: head.map((_, i) => Math.max(...cells(i).flatMap(wordLengths)) + PADDING),
  };
}

const outerWidth = (widths: number[]): number => widths.reduce((a, b) => a + b, 0) + widths.length + 1;

/** Whether the table fits in `width` columns with its cells wrapped at spaces. */
export function fitsWrapped(head: string[], rows: string[][], width: number | undefined = terminalColumns()): boolean {
  return width === undefined || outerWidth(measure(head, rows).least) <= width;
}

/** Column widths within `width`: each at least its longest word, the room left shared by how much more each wants. */
function columnWidths({ natural, least }: Columns, width: number): number[] {
  const room = width - outerWidth(least);
  if (room <= 0) return least;
  const want = natural.map((n, i) => n - least[i]);
  const wanted = want.reduce((a, b) => a + b, 0);
  return least.map((l, i) => l + Math.floor((room * want[i]) / wanted));
}

/** A cli-table3 table of `head` and `rows`, wrapped to `width` (default: the terminal's) where it is wider. */
export function fitTable(head: string[], rows: string[][], width: number | undefined = terminalColumns()): string {
  // Cells hold ids (a model's path, an attack's name) a user or a results file chose: control
  // characters in them are shown escaped, so no cell can clear the screen or recolour the terminal.
  head = head.map((c) => terminalText(c, true));
  rows = rows.map((r) => r.map((c) => terminalText(String(c ?? ''), true)));
  const columns = measure(head, rows);
  const fits = width === undefined || outerWidth(columns.natural) <= width;
  const table = new Table(fits ? { head, style: STYLE } : { head, style: STYLE, wordWrap: true, colWidths: columnWidths(columns, width) });
  table.push(...rows);
  return table.toString();
}
