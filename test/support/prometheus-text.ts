// An independent reader of the Prometheus text format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format), written from
// the format description, not from core/metrics/registry.ts, so tests of our exposition check it
// against the format rather than against itself. Throws on any line the format does not allow.

export interface ParsedSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface ParsedFamily {
  readonly name: string;
  readonly type: string;
  readonly help: string;
  readonly samples: ParsedSample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const SAMPLE_RE = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)(?: (-?\\d+))?$`);
const LABEL_RE = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"(,|$)/;

export function parsePrometheusText(text: string): Map<string, ParsedFamily> {
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline');
  const families = new Map<string, ParsedFamily>();
  const lines = text.slice(0, -1).split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const where = `line ${i + 1}: ${JSON.stringify(line)}`;
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (m === null) continue; // a plain comment
      const [, kind, name, rest] = m;
      if (!new RegExp(`^${NAME}$`).test(name!)) throw new Error(`bad metric name in ${where}`);
      const family = families.get(name!) ?? { name: name!, type: 'untyped', help: '', samples: [] };
      if (kind === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest!)) throw new Error(`bad TYPE in ${where}`);
        if (family.samples.length > 0) throw new Error(`TYPE after samples in ${where}`);
        families.set(name!, { ...family, type: rest! });
      } else {
        families.set(name!, { ...family, help: rest!.replace(/\\n/g, '\n').replace(/\\\\/g, '\\') });
      }
      continue;
    }
    const m = SAMPLE_RE.exec(line);
    if (m === null) throw new Error(`bad sample in ${where}`);
    const [, name, labelText, valueText] = m;
    const labels: Record<string, string> = {};
    let rest = labelText ?? '';
    while (rest !== '') {
      const l = LABEL_RE.exec(rest);
      if (l === null) throw new Error(`bad labels in ${where}`);
      if (l[1]! in labels) throw new Error(`duplicate label in ${where}`);
      labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
      rest = rest.slice(l[0].length);
    }
    const value = valueText === '+Inf' ? Infinity : valueText === '-Inf' ? -Infinity : valueText === 'NaN' ? NaN : Number(valueText);
    if (Number.isNaN(value) && valueText !== 'NaN') throw new Error(`bad value in ${where}`);
    // A histogram's samples belong to the family without the suffix.
    const base = /_(bucket|sum|count)$/.test(name!) && families.get(name!.replace(/_(bucket|sum|count)$/, ''))?.type === 'histogram' ? name!.replace(/_(bucket|sum|count)$/, '') : name!;
    const family = families.get(base);
    if (family === undefined) throw new Error(`sample before its TYPE in ${where}`);
    family.samples.push({ name: name!, labels, value });
  }
  return families;
}

/** The value of one sample (labels must match exactly), or undefined. */
export function sampleValue(families: Map<string, ParsedFamily>, name: string, labels: Readonly<Record<string, string>> = {}): number | undefined {
  const base = families.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
  const family = families.get(base);
  const want = Object.entries(labels).sort().join('|');
  return family?.samples.find((s) => s.name === name && Object.entries(s.labels).sort().join('|') === want)?.value;
}
