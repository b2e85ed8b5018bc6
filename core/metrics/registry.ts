// A small Prometheus registry (SPEC §11, docs/metrics.md): counters, gauges and histograms with
// fixed buckets, rendered in the text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format).
//
// Pure and synchronous: no clock (histograms take observed values, not timers), no I/O.
//
// Bounded (STYLE.md #8): every metric declares `seriesMax`, the number of distinct label sets it
// keeps. A new label set past that bound is folded into ONE overflow series whose every label
// value is `_overflow` (so totals stay right) and counted in
// `reservegrid_metrics_series_overflow_total`; memory never grows with what peers send.
//
// Format facts we rely on (0.0.4):
//  - `# HELP name text` escapes `\` and newline; label values escape `\`, `"` and newline.
//  - `# TYPE name counter|gauge|histogram`; in 0.0.4 the TYPE line names the sample name as
//    written, `_total` included (OpenMetrics differs; Prometheus accepts both for 0.0.4).
//  - Histograms: cumulative `name_bucket{le="…"}` rows ending with `le="+Inf"`, then
//    `name_sum` and `name_count`; `le` is the last label.
//  - Values: Go float syntax; `+Inf`, `-Inf`, `NaN` spelled so.
//  - Metric names `[a-zA-Z_:][a-zA-Z0-9_:]*`; label names `[a-zA-Z_][a-zA-Z0-9_]*`, `__` reserved.

export type MetricType = 'counter' | 'gauge' | 'histogram';

/** Label values by label name; every declared label must be given. */
export type Labels = Readonly<Record<string, string>>;

export interface MetricOptions {
  readonly name: string;
  readonly help: string;
  /** Label names, in exposition order. */
  readonly labels?: readonly string[];
  /** Distinct label sets kept before folding into the overflow series. Default 256. */
  readonly seriesMax?: number;
}

export interface HistogramOptions extends MetricOptions {
  /** Upper bounds, strictly increasing and finite; `+Inf` is implied. */
  readonly buckets: readonly number[];
}

/** The label value of the overflow series. */
export const OVERFLOW_LABEL_VALUE = '_overflow';
const SERIES_MAX_DEFAULT = 256;
const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** `Content-Type` of the text this registry renders. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

abstract class _Metric {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly seriesMax: number;
  abstract readonly type: MetricType;
  readonly #registry: MetricsRegistry;
  /** Series key (rendered label pairs) → state. Insertion order is exposition order. */
  protected readonly series = new Map<string, { labels: string; state: number[] }>();

  constructor(registry: MetricsRegistry, options: MetricOptions) {
    if (options === null || typeof options !== 'object') throw new TypeError(`metric options must be an object, got ${String(options)}`);
    if (typeof options.name !== 'string' || !NAME_RE.test(options.name)) throw new TypeError(`metric name must match ${NAME_RE}, got ${JSON.stringify(options.name)}`);
    if (typeof options.help !== 'string' || options.help.length === 0) throw new TypeError(`metric ${options.name}: help must be a non-empty string`);
    const labels = options.labels ?? [];
    for (const l of labels) {
      if (typeof l !== 'string' || !LABEL_RE.test(l) || l.startsWith('__') || l === 'le') throw new TypeError(`metric ${options.name}: bad label name ${JSON.stringify(l)}`);
    }
    if (new Set(labels).size !== labels.length) throw new TypeError(`metric ${options.name}: duplicate label names ${JSON.stringify(labels)}`);
    const seriesMax = options.seriesMax ?? SERIES_MAX_DEFAULT;
    if (!(Number.isSafeInteger(seriesMax) && seriesMax >= 1)) throw new RangeError(`metric ${options.name}: seriesMax must be a positive integer, got ${seriesMax}`);
    this.name = options.name;
    this.help = options.help;
    this.labelNames = labels;
    this.seriesMax = seriesMax;
    this.#registry = registry;
  }

  protected abstract initialState(): number[];

  /** The state of one label set, created on first use (or the overflow series past seriesMax). */
  protected stateFor(labels: Labels | undefined): number[] {
    const key = this.#key(labels);
    let entry = this.series.get(key);
    if (entry === undefined) {
      if (this.series.size >= this.seriesMax && this.labelNames.length > 0) {
        this.#registry._overflowed(this.name);
        const overflowKey = this.#render(this.labelNames.map(() => OVERFLOW_LABEL_VALUE));
        entry = this.series.get(overflowKey);
        if (entry === undefined) {
          entry = { labels: overflowKey, state: this.initialState() };
          this.series.set(overflowKey, entry);
        }
        return entry.state;
      }
      entry = { labels: key, state: this.initialState() };
      this.series.set(key, entry);
    }
    return entry.state;
  }

  #key(labels: Labels | undefined): string {
    if (this.labelNames.length === 0) return '';
    if (labels === undefined || labels === null || typeof labels !== 'object') throw new TypeError(`metric ${this.name}: labels ${JSON.stringify(this.labelNames)} required, got ${String(labels)}`);
    const values = this.labelNames.map((n) => {
      const v = labels[n];
      if (typeof v !== 'string') throw new TypeError(`metric ${this.name}: label ${n} must be a string, got ${JSON.stringify(v)}`);
      return v;
    });
    return this.#render(values);
  }

  #render(values: readonly string[]): string {
    return values.map((v, i) => `${this.labelNames[i]}="${escapeLabelValue(v)}"`).join(',');
  }

  /** Number of label sets held (the overflow series included). */
  get seriesCount(): number {
    return this.series.size;
  }

  /** Rows of the exposition (without HELP/TYPE). */
  abstract renderSamples(out: string[]): void;
}

export class Counter extends _Metric {
  readonly type = 'counter' as const;
  protected initialState(): number[] {
    return [0];
  }
  /** Add `amount` (default 1, must be finite and >= 0: a counter never goes down). */
  inc(labels?: Labels, amount = 1): void {
    if (!(Number.isFinite(amount) && amount >= 0)) throw new RangeError(`counter ${this.name}: amount must be finite and >= 0, got ${amount}`);
    this.stateFor(labels)[0]! += amount;
  }
  /** Create the series at 0 so it is exposed before its first event (dashboards see it). */
  touch(labels?: Labels): void {
    this.stateFor(labels);
  }
  get(labels?: Labels): number {
    return this.stateFor(labels)[0]!;
  }
  renderSamples(out: string[]): void {
    if (this.series.size === 0 && this.labelNames.length === 0) this.stateFor(undefined);
    for (const { labels, state } of this.series.values()) out.push(`${this.name}${labels === '' ? '' : `{${labels}}`} ${formatValue(state[0]!)}`);
  }
}

export class Gauge extends _Metric {
  readonly type = 'gauge' as const;
  protected initialState(): number[] {
    return [0];
  }
  set(labels: Labels | undefined, value: number): void {
    if (typeof value !== 'number') throw new TypeError(`gauge ${this.name}: value must be a number, got ${String(value)}`);
    this.stateFor(labels)[0] = value;
  }
  inc(labels?: Labels, amount = 1): void {
    this.stateFor(labels)[0]! += amount;
  }
  dec(labels?: Labels, amount = 1): void {
    this.stateFor(labels)[0]! -= amount;
  }
  touch(labels?: Labels): void {
    this.stateFor(labels);
  }
  get(labels?: Labels): number {
    return this.stateFor(labels)[0]!;
  }
  renderSamples(out: string[]): void {
    if (this.series.size === 0 && this.labelNames.length === 0) this.stateFor(undefined);
    for (const { labels, state } of this.series.values()) out.push(`${this.name}${labels === '' ? '' : `{${labels}}`} ${formatValue(state[0]!)}`);
  }
}

export class Histogram extends _Metric {
  readonly type = 'histogram' as const;
  readonly buckets: readonly number[];

  constructor(registry: MetricsRegistry, options: HistogramOptions) {
    super(registry, options);
    const b = options.buckets;
    if (!Array.isArray(b) || b.length === 0) throw new TypeError(`histogram ${options.name}: buckets must be a non-empty array`);
    for (let i = 0; i < b.length; i++) {
      if (typeof b[i] !== 'number' || !Number.isFinite(b[i]) || (i > 0 && b[i]! <= b[i - 1]!)) throw new RangeError(`histogram ${options.name}: buckets must be finite and strictly increasing, got ${JSON.stringify(b)}`);
    }
    this.buckets = Object.freeze([...b]);
  }

  /** State: per-bucket (non-cumulative) counts, +Inf last, then sum, then count. */
  protected initialState(): number[] {
    return new Array<number>(this.buckets.length + 3).fill(0);
  }

  observe(labels: Labels | undefined, value: number): void {
    if (typeof value !== 'number' || Number.isNaN(value)) throw new RangeError(`histogram ${this.name}: value must be a number, got ${String(value)}`);
    const state = this.stateFor(labels);
    let i = 0;
    while (i < this.buckets.length && value > this.buckets[i]!) i++;
    state[i]! += 1;
    state[this.buckets.length + 1]! += value;
    state[this.buckets.length + 2]! += 1;
  }

  touch(labels?: Labels): void {
    this.stateFor(labels);
  }

  /** Observations so far (tests). */
  count(labels?: Labels): number {
    return this.stateFor(labels)[this.buckets.length + 2]!;
  }

  renderSamples(out: string[]): void {
    if (this.series.size === 0 && this.labelNames.length === 0) this.stateFor(undefined);
    const n = this.buckets.length;
    for (const { labels, state } of this.series.values()) {
      const prefix = labels === '' ? '' : `${labels},`;
      let cumulative = 0;
      for (let i = 0; i <= n; i++) {
        cumulative += state[i]!;
        const le = i === n ? '+Inf' : formatValue(this.buckets[i]!);
        out.push(`${this.name}_bucket{${prefix}le="${le}"} ${formatValue(cumulative)}`);
      }
      const braces = labels === '' ? '' : `{${labels}}`;
      out.push(`${this.name}_sum${braces} ${formatValue(state[n + 1]!)}`);
      out.push(`${this.name}_count${braces} ${formatValue(state[n + 2]!)}`);
    }
  }
}

export type Metric = Counter | Gauge | Histogram;

export class MetricsRegistry {
  readonly #metrics = new Map<string, Metric>();
  readonly #overflow: Counter;
  /** Called before each render, to refresh gauges read from live objects (queue depth...). */
  readonly #collectors: Array<() => void> = [];

  constructor() {
    this.#overflow = this.counter({
      name: 'reservegrid_metrics_series_overflow_total',
      help: 'Label sets folded into a metric\'s _overflow series because it reached its series bound.',
      labels: ['metric'],
      seriesMax: 128,
    });
  }

  counter(options: MetricOptions): Counter {
    return this.#add(new Counter(this, options));
  }

  gauge(options: MetricOptions): Gauge {
    return this.#add(new Gauge(this, options));
  }

  histogram(options: HistogramOptions): Histogram {
    return this.#add(new Histogram(this, options));
  }

  /** Run `collect` before every render (it sets gauges). A throwing collector is skipped. */
  addCollector(collect: () => void): void {
    if (typeof collect !== 'function') throw new TypeError(`addCollector: collect must be a function, got ${typeof collect}`);
    this.#collectors.push(collect);
  }

  get(name: string): Metric | undefined {
    return this.#metrics.get(name);
  }

  names(): string[] {
    return [...this.#metrics.keys()];
  }

  /** The whole registry in the text format 0.0.4, ending with a newline. */
  render(): string {
    for (const collect of this.#collectors) {
      try {
        collect();
      } catch {
        // A faulty collector must not take /metrics down; its gauges keep their last values.
      }
    }
    const out: string[] = [];
    for (const m of this.#metrics.values()) {
      out.push(`# HELP ${m.name} ${escapeHelp(m.help)}`);
      out.push(`# TYPE ${m.name} ${m.type}`);
      m.renderSamples(out);
    }
    return out.join('\n') + '\n';
  }

  /** @internal a metric folded a label set into its overflow series. */
  _overflowed(name: string): void {
    this.#overflow.inc({ metric: name });
  }

  #add<M extends Metric>(metric: M): M {
    if (this.#metrics.has(metric.name)) throw new TypeError(`metric ${metric.name} is already registered`);
    this.#metrics.set(metric.name, metric);
    return metric;
  }
}

export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** A sample value as Prometheus writes it (Go float syntax for the special values). */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}
