// Help text for the CLI, wrapped to the terminal: the width comes from CliIo.columns (the
// terminal's columns when stdout is one), else HELP_COLUMNS_DEFAULT. Words are never split: a
// single word longer than the line (a long flag list entry, a path) gets a line of its own.

/** Width when stdout is not a terminal (a pipe, a file, a test's in-memory io). */
export const HELP_COLUMNS_DEFAULT = 80;
/** A reported width below this is not a usable terminal; the default is used instead. */
export const HELP_COLUMNS_MIN = 20;

/** The width to wrap at: `columns` if it is a sane terminal width, else the default. */
export function helpColumns(columns: number | undefined): number {
  return columns !== undefined && Number.isInteger(columns) && columns >= HELP_COLUMNS_MIN ? columns : HELP_COLUMNS_DEFAULT;
}

/**
 * Greedy word wrap of `text` (whitespace-separated words; newlines in `text` are kept as
 * paragraph breaks) into lines of at most `width` characters, the first starting with
 * `firstIndent` and the rest with `restIndent`.
 */
export function wrap(text: string, width: number, firstIndent = '', restIndent = firstIndent): string[] {
  if (!Number.isInteger(width) || width <= 0) throw new RangeError(`wrap: width must be a positive integer, got ${String(width)}`);
  const lines: string[] = [];
  for (const paragraph of text.split('\n')) {
    let line = lines.length === 0 ? firstIndent : restIndent;
    let empty = true;
    for (const word of paragraph.split(/\s+/).filter((w) => w !== '')) {
      if (!empty && line.length + 1 + word.length > width) {
        lines.push(line);
        line = restIndent;
        empty = true;
      }
      line += empty ? word : ` ${word}`;
      empty = false;
    }
    lines.push(line);
  }
  return lines;
}

/**
 * `  <left>  <right>` rows with the right column wrapped under itself; when the left column
 * would take more than half the width, each row becomes `  <left>` (continued at indent 8) and
 * the right text below it at indent 6.
 */
export function entries(rows: readonly (readonly [string, string])[], width: number): string[] {
  const leftWidth = Math.max(0, ...rows.map(([left]) => left.length));
  const out: string[] = [];
  if (2 + leftWidth + 2 <= width / 2) {
    const pad = ' '.repeat(2 + leftWidth + 2);
    for (const [left, right] of rows) {
      const [first = '', ...rest] = wrap(right, width, pad, pad);
      out.push(`  ${left.padEnd(leftWidth)}  ${first.slice(pad.length)}`, ...rest);
    }
  } else {
    for (const [left, right] of rows) out.push(...wrap(left, width, '  ', '        '), ...wrap(right, width, '      '));
  }
  return out;
}
