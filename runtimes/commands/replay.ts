// `reservegrid replay <log>...` (SPEC §11, issue 6 item 4, docs/operations.md): reconstruct a
// decision offline from the JSON-line event log (`gateway.event_log_path`; rotated files may be
// given oldest first: `events.jsonl.2 events.jsonl.1 events.jsonl`).
//
//   --share ID        a share's lifecycle: connection, channel, template (and its verdict),
//                     share_accepted, block, share_forward_retry…, share_forward_result
//   --template ID     a template's verdict and what it caused: broadcasts, prevhash switch,
//                     stale hold (start, end), miners disconnected, connections refused
//   --connection ID   a miner's session: opened, setup, channels, shares, how it ended
//   --summary         counts by type and reason code (the default)
//   --json            machine-readable output instead of text
//
// A log spans gateway runs: a new run starts where the pump's `seq` restarts. Connection and
// template ids restart with each run, so `--connection`/`--template` report every run that has
// the id; share ids are unique across runs (docs/events.md).
//
// Never trusts the log: lines that are not JSON objects with a string `type` are skipped and
// counted; missing fields show as `?`.
import type { Command, CliIo } from '../io.ts';

const USAGE = 'replay <log>... [--share ID | --template ID | --connection ID | --summary] [--json]';

export type LogEvent = { readonly type: string } & Readonly<Record<string, unknown>>;

export interface ParsedLog {
  /** Events in file order; `run` = gateway run (1-based), `line` = 1-based line in its file. */
  readonly entries: readonly { readonly run: number; readonly file: string; readonly line: number; readonly event: LogEvent }[];
  readonly skipped: number;
  readonly runs: number;
}

type Entry = ParsedLog['entries'][number];

/** Parse JSON lines from one or more files (in order). */
export function parseEventLog(files: readonly { readonly name: string; readonly text: string }[]): ParsedLog {
  const entries: Entry[] = [];
  let skipped = 0;
  let run = 0;
  let lastSeq = Number.POSITIVE_INFINITY;
  for (const file of files) {
    const lines = file.text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const text = lines[i]!.trim();
      if (text === '') continue;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        skipped++;
        continue;
      }
      if (value === null || typeof value !== 'object' || Array.isArray(value) || typeof (value as { type?: unknown }).type !== 'string') {
        skipped++;
        continue;
      }
      const event = value as LogEvent;
      const seq = event.seq;
      // The gateway pump numbers its events from 1 per run: a seq that does not grow is a restart.
      if (typeof seq === 'number') {
        if (seq <= lastSeq) run++;
        lastSeq = seq;
      } else if (run === 0) {
        run = 1;
      }
      entries.push({ run: Math.max(run, 1), file: file.name, line: i + 1, event });
    }
  }
  return { entries, skipped, runs: Math.max(run, entries.length > 0 ? 1 : 0) };
}

// ---- a share ---------------------------------------------------------------------------------

export interface ShareLifecycle {
  readonly share_id: string;
  readonly run: number;
  readonly connection: LogEvent | null;
  readonly channel: LogEvent | null;
  readonly template: LogEvent | null;
  readonly verdict: LogEvent | null;
  readonly accepted: LogEvent;
  readonly block: LogEvent | null;
  readonly block_result: LogEvent | null;
  readonly forward_retries: readonly LogEvent[];
  readonly forward_result: LogEvent | null;
  /** Every event above, in log order. */
  readonly timeline: readonly LogEvent[];
}

export function replayShare(log: ParsedLog, shareId: string): ShareLifecycle | null {
  const acceptedAt = log.entries.findIndex((e) => e.event.type === 'share_accepted' && e.event.share_id === shareId);
  if (acceptedAt < 0) return null;
  const accepted = log.entries[acceptedAt]!;
  const run = accepted.run;
  const a = accepted.event;
  const inRun = log.entries.filter((e) => e.run === run);
  const before = log.entries.slice(0, acceptedAt).filter((e) => e.run === run);
  const lastBefore = (pred: (e: LogEvent) => boolean): Entry | undefined => {
    for (let i = before.length - 1; i >= 0; i--) if (pred(before[i]!.event)) return before[i];
    return undefined;
  };
  const connection = lastBefore((e) => e.type === 'connection_opened' && e.conn_id === a.conn_id);
  const channel = lastBefore((e) => e.type === 'channel_opened' && e.conn_id === a.conn_id && e.channel_id === a.channel_id);
  const template = lastBefore((e) => e.type === 'template_received' && e.template_id === a.template_id);
  const verdict = lastBefore((e) => e.type === 'template_verdict' && e.template_id === a.template_id);
  const block = inRun.find((e) => e.event.type === 'block_found' && e.event.share_id === shareId);
  const blockResult = block === undefined ? undefined : inRun.find((e) => e.event.type === 'block_submit_result' && e.event.block_id === block.event.block_id);
  // The forwarder settles a share later, possibly after a restart (recovered from its journal):
  // search the whole log after the acceptance.
  const after = log.entries.slice(acceptedAt + 1);
  const result = after.find((e) => e.event.type === 'share_forward_result' && e.event.share_id === shareId);
  const batchId = result?.event.batch_id;
  const retries = typeof batchId === 'string' ? after.filter((e) => e.event.type === 'share_forward_retry' && e.event.batch_id === batchId && (result === undefined || log.entries.indexOf(e) < log.entries.indexOf(result))) : [];
  const picked = new Set<Entry>([connection, channel, template, verdict, accepted, block, blockResult, ...retries, result].filter((e): e is Entry => e !== undefined));
  return {
    share_id: shareId,
    run,
    connection: connection?.event ?? null,
    channel: channel?.event ?? null,
    template: template?.event ?? null,
    verdict: verdict?.event ?? null,
    accepted: a,
    block: block?.event ?? null,
    block_result: blockResult?.event ?? null,
    forward_retries: retries.map((e) => e.event),
    forward_result: result?.event ?? null,
    timeline: log.entries.filter((e) => picked.has(e)).map((e) => e.event),
  };
}

// ---- a template --------------------------------------------------------------------------------

export interface TemplateStory {
  readonly template_id: string;
  readonly run: number;
  readonly received: LogEvent | null;
  readonly verdicts: readonly LogEvent[];
  readonly broadcasts: readonly LogEvent[];
  /** prevhash_switch events to this template, or away from it while it was held. */
  readonly switches: readonly LogEvent[];
  /** stale_hold_started events where this template was the candidate. */
  readonly holds: readonly LogEvent[];
  /** The stale_hold_ended closing each hold (same order; null while still open). */
  readonly hold_ends: readonly (LogEvent | null)[];
  /** miner_disconnected during those holds. */
  readonly disconnects: readonly LogEvent[];
  /** connection_refused with stale_hold_expired during or after those holds until the next switch. */
  readonly refused: readonly LogEvent[];
  readonly shares_accepted: number;
  /** Shares acknowledged on held work during this template's holds (`stale_hold: true`). */
  readonly shares_during_hold: number;
  readonly blocks: readonly LogEvent[];
  readonly timeline: readonly LogEvent[];
}

export function replayTemplate(log: ParsedLog, templateId: string): TemplateStory[] {
  const stories: TemplateStory[] = [];
  const runs = [...new Set(log.entries.filter((e) => _mentionsTemplate(e.event, templateId)).map((e) => e.run))];
  for (const run of runs) {
    const inRun = log.entries.filter((e) => e.run === run);
    const picked = new Set<Entry>();
    const pick = (es: Entry[]): LogEvent[] => {
      for (const e of es) picked.add(e);
      return es.map((e) => e.event);
    };
    const received = inRun.find((e) => e.event.type === 'template_received' && e.event.template_id === templateId);
    if (received !== undefined) picked.add(received);
    const verdicts = pick(inRun.filter((e) => e.event.type === 'template_verdict' && e.event.template_id === templateId));
    const broadcasts = pick(inRun.filter((e) => e.event.type === 'job_broadcast' && e.event.template_id === templateId));
    const switchEntries = inRun.filter((e) => e.event.type === 'prevhash_switch' && (e.event.template_id === templateId || e.event.held_template_id === templateId));
    const holdEntries = inRun.filter((e) => e.event.type === 'stale_hold_started' && e.event.template_id === templateId);
    const holds = pick(holdEntries);
    const holdEnds: (LogEvent | null)[] = [];
    const disconnects: Entry[] = [];
    const refused: Entry[] = [];
    let sharesDuringHold = 0;
    for (const start of holdEntries) {
      const from = inRun.indexOf(start);
      const endAt = inRun.findIndex((e, i) => i > from && e.event.type === 'stale_hold_ended');
      const end = endAt < 0 ? undefined : inRun[endAt];
      holdEnds.push(end?.event ?? null);
      if (end !== undefined) picked.add(end);
      const stopAt = endAt < 0 ? inRun.length : endAt;
      for (let i = from + 1; i < stopAt; i++) {
        const e = inRun[i]!;
        if (e.event.type === 'miner_disconnected') disconnects.push(e);
        // The switch that ended this template's hold (to a later template on the same prevhash),
        // and the verdict that allowed it.
        else if (e.event.type === 'prevhash_switch' && !switchEntries.includes(e)) switchEntries.push(e);
        else if (e.event.type === 'share_accepted' && e.event.stale_hold === true) sharesDuringHold++;
      }
      const resolver = inRun.slice(from + 1, stopAt).find((e) => e.event.type === 'prevhash_switch');
      if (resolver !== undefined) {
        for (const e of inRun.slice(from + 1, stopAt)) {
          if ((e.event.type === 'template_received' || e.event.type === 'template_verdict') && e.event.template_id === resolver.event.template_id) picked.add(e);
        }
      }
      // Refusals follow an expiry until something acceptable is released (the next switch).
      const nextSwitch = inRun.findIndex((e, i) => i > from && e.event.type === 'prevhash_switch');
      const refuseUntil = nextSwitch < 0 ? inRun.length : nextSwitch;
      for (let i = from + 1; i < refuseUntil; i++) {
        const e = inRun[i]!;
        if (e.event.type === 'connection_refused' && e.event.reason_code === 'stale_hold_expired') refused.push(e);
      }
    }
    pick(disconnects);
    pick(refused);
    switchEntries.sort((x, y) => inRun.indexOf(x) - inRun.indexOf(y));
    const switches = pick(switchEntries);
    const shares = inRun.filter((e) => e.event.type === 'share_accepted' && e.event.template_id === templateId).length;
    const blocks = pick(inRun.filter((e) => e.event.type === 'block_found' && e.event.template_id === templateId));
    stories.push({
      template_id: templateId,
      run,
      received: received?.event ?? null,
      verdicts,
      broadcasts,
      switches,
      holds,
      hold_ends: holdEnds,
      disconnects: disconnects.map((e) => e.event),
      refused: refused.map((e) => e.event),
      shares_accepted: shares,
      shares_during_hold: sharesDuringHold,
      blocks,
      timeline: inRun.filter((e) => picked.has(e)).map((e) => e.event),
    });
  }
  return stories;
}

function _mentionsTemplate(e: LogEvent, id: string): boolean {
  return e.template_id === id || (e.type === 'prevhash_switch' && e.held_template_id === id);
}

// ---- a connection ------------------------------------------------------------------------------

export interface ConnectionSession {
  readonly conn_id: number;
  readonly run: number;
  readonly opened: LogEvent | null;
  readonly setup: LogEvent | null;
  readonly channels: readonly { readonly opened: LogEvent; readonly closed: LogEvent | null }[];
  readonly channel_rejections: readonly LogEvent[];
  readonly shares_accepted: number;
  readonly shares_rejected: Readonly<Record<string, number>>;
  readonly blocks: readonly LogEvent[];
  readonly disconnected: LogEvent | null;
  readonly closed: LogEvent | null;
  readonly timeline: readonly LogEvent[];
}

export function replayConnection(log: ParsedLog, connId: number): ConnectionSession[] {
  const sessions: ConnectionSession[] = [];
  const runs = [...new Set(log.entries.filter((e) => e.event.conn_id === connId).map((e) => e.run))];
  for (const run of runs) {
    const mine = log.entries.filter((e) => e.run === run && e.event.conn_id === connId);
    const find = (type: string): LogEvent | null => mine.find((e) => e.event.type === type)?.event ?? null;
    const channels = mine
      .filter((e) => e.event.type === 'channel_opened')
      .map((o) => ({ opened: o.event, closed: mine.find((e) => e.event.type === 'channel_closed' && e.event.channel_id === o.event.channel_id)?.event ?? null }));
    const rejected: Record<string, number> = {};
    for (const e of mine) if (e.event.type === 'share_rejected') rejected[String(e.event.reason_code)] = (rejected[String(e.event.reason_code)] ?? 0) + 1;
    // Shares and rejections are summarised; the timeline keeps the session's shape.
    const timeline = mine.filter((e) => e.event.type !== 'share_accepted' && e.event.type !== 'share_rejected').map((e) => e.event);
    sessions.push({
      conn_id: connId,
      run,
      opened: find('connection_opened'),
      setup: find('connection_setup'),
      channels,
      channel_rejections: mine.filter((e) => e.event.type === 'channel_open_rejected').map((e) => e.event),
      shares_accepted: mine.filter((e) => e.event.type === 'share_accepted').length,
      shares_rejected: rejected,
      blocks: mine.filter((e) => e.event.type === 'block_found').map((e) => e.event),
      disconnected: find('miner_disconnected'),
      closed: find('connection_closed'),
      timeline,
    });
  }
  return sessions;
}

// ---- summary -------------------------------------------------------------------------------------

export interface LogSummary {
  readonly events: number;
  readonly skipped_lines: number;
  readonly runs: number;
  readonly first_ts: string | null;
  readonly last_ts: string | null;
  readonly by_type: Readonly<Record<string, number>>;
  readonly shares_accepted: number;
  readonly shares_rejected_by_reason: Readonly<Record<string, number>>;
  readonly connections_closed_by_reason: Readonly<Record<string, number>>;
  readonly verdicts_by_mode_reason: Readonly<Record<string, number>>;
  readonly prevhash_switches: number;
  readonly stale_holds_by_reason: Readonly<Record<string, number>>;
  readonly stale_hold_outcomes: Readonly<Record<string, number>>;
  readonly forward_results_by_status: Readonly<Record<string, number>>;
  readonly blocks_found: number;
  readonly block_results: Readonly<Record<string, number>>;
  /** Job Declaration verdicts (issue 11): `"<mode> <reason_code>"` → count. */
  readonly declarations_by_mode_reason: Readonly<Record<string, number>>;
}

export function replaySummary(log: ParsedLog): LogSummary {
  const count = (m: Record<string, number>, k: unknown): void => void (m[String(k ?? '?')] = (m[String(k ?? '?')] ?? 0) + 1);
  const byType: Record<string, number> = {};
  const rejected: Record<string, number> = {};
  const closed: Record<string, number> = {};
  const verdicts: Record<string, number> = {};
  const holds: Record<string, number> = {};
  const holdOutcomes: Record<string, number> = {};
  const forward: Record<string, number> = {};
  const blockResults: Record<string, number> = {};
  const declarations: Record<string, number> = {};
  let first: string | null = null;
  let last: string | null = null;
  for (const { event: e } of log.entries) {
    count(byType, e.type);
    if (typeof e.ts === 'string') {
      first ??= e.ts;
      last = e.ts;
    }
    if (e.type === 'share_rejected') count(rejected, e.reason_code);
    else if (e.type === 'connection_closed') count(closed, e.reason_code);
    else if (e.type === 'template_verdict') count(verdicts, `${String(e.mode)} ${String(e.reason_code)}`);
    else if (e.type === 'stale_hold_started') count(holds, e.reason_code);
    else if (e.type === 'stale_hold_ended') count(holdOutcomes, e.outcome);
    else if (e.type === 'share_forward_result') count(forward, e.status);
    else if (e.type === 'block_submit_result') count(blockResults, e.result);
    else if (e.type === 'jd_declaration_verdict') count(declarations, `${String(e.mode)} ${String(e.reason_code)}`);
  }
  return {
    events: log.entries.length,
    skipped_lines: log.skipped,
    runs: log.runs,
    first_ts: first,
    last_ts: last,
    by_type: byType,
    shares_accepted: byType['share_accepted'] ?? 0,
    shares_rejected_by_reason: rejected,
    connections_closed_by_reason: closed,
    verdicts_by_mode_reason: verdicts,
    prevhash_switches: byType['prevhash_switch'] ?? 0,
    stale_holds_by_reason: holds,
    stale_hold_outcomes: holdOutcomes,
    forward_results_by_status: forward,
    blocks_found: byType['block_found'] ?? 0,
    block_results: blockResults,
    declarations_by_mode_reason: declarations,
  };
}

// ---- job declarations (issue 11) ---------------------------------------------------------------

/** One DeclareMiningJob decision as the log tells it: the verdict exactly as the engine shaped it. */
export interface DeclarationDecision {
  readonly run: number;
  readonly line: number;
  readonly conn_id: number;
  readonly request_id: number;
  readonly declaration_id: string;
  readonly user: string;
  readonly mode: string;
  /** What the client was told, and whether the verdict decided it (inline, or a gate failure). */
  readonly answered_success: boolean;
  readonly enforced: boolean;
  readonly wire: string | null;
  readonly verdict: { readonly accepted: boolean; readonly reason_code: string; readonly reason_detail: string; readonly policy_context: Readonly<Record<string, unknown>> };
}

/** Every declaration verdict in the log, in order (`reservegrid replay` reconstructs decisions offline). */
export function replayDeclarations(log: ParsedLog): DeclarationDecision[] {
  const out: DeclarationDecision[] = [];
  for (const { run, line, event: e } of log.entries) {
    if (e.type !== 'jd_declaration_verdict') continue;
    out.push({
      run,
      line,
      conn_id: Number(e.conn_id),
      request_id: Number(e.request_id),
      declaration_id: String(e.declaration_id ?? ''),
      user: String(e.user ?? ''),
      mode: String(e.mode),
      answered_success: e.answered_success === true,
      enforced: e.enforced === true,
      wire: typeof e.wire === 'string' ? e.wire : null,
      verdict: {
        accepted: e.accepted === true,
        reason_code: String(e.reason_code),
        reason_detail: String(e.reason_detail ?? ''),
        policy_context: (e.policy_context !== null && typeof e.policy_context === 'object' ? e.policy_context : {}) as Readonly<Record<string, unknown>>,
      },
    });
  }
  return out;
}

// ---- text ----------------------------------------------------------------------------------------

/** The node's BIP23 part of a declaration verdict as recorded (never recomputed offline). */
function _nodePart(context: unknown): string {
  if (context === null || typeof context !== 'object') return '';
  const c = context as Record<string, unknown>;
  if (typeof c.proposal_result !== 'string') return '';
  const reason = typeof c.proposal_reason === 'string' ? ` ${c.proposal_reason}` : '';
  return `; node: ${c.proposal_result}${reason} after ${String(c.proposal_latency_ms)} ms`;
}

/** One readable line per event (the timelines). */
export function describeLogEvent(e: LogEvent): string {
  const f = (k: string): string => (e[k] === undefined || e[k] === null ? '?' : String(e[k]));
  const at = typeof e.ts === 'string' ? `${e.ts}  ` : '';
  let what: string;
  switch (e.type) {
    case 'connection_opened':
      what = `connection ${f('conn_id')} opened from ${f('remote_address')}`;
      break;
    case 'connection_setup':
      what = `connection ${f('conn_id')} SetupConnection ok (${f('vendor')} ${f('firmware')})`;
      break;
    case 'connection_closed':
      what = `connection ${f('conn_id')} closed: ${f('reason_code')} (${f('detail')}); ${f('shares_accepted')} shares accepted, ${f('shares_rejected')} rejected, ${f('duration_ms')} ms`;
      break;
    case 'connection_refused':
      what = `connection from ${f('remote_address')} refused: ${f('reason_code')}`;
      break;
    case 'channel_opened':
      what = `connection ${f('conn_id')}: ${f('kind')} channel ${f('channel_id')} opened for ${f('identity')}, difficulty ${f('difficulty')}`;
      break;
    case 'channel_closed':
      what = `connection ${f('conn_id')}: channel ${f('channel_id')} closed: ${f('reason_code')}`;
      break;
    case 'template_received':
      what = `template ${f('template_id')} received: height ${f('height')}, prevhash ${f('prev_hash')}${e.new_prevhash === true ? ' (new prevhash)' : ''}, ${f('tx_count')} tx`;
      break;
    case 'template_verdict':
      what = `template ${f('template_id')} verdict (${f('mode')}): ${f('reason_code')}, outcome ${f('outcome')}, action ${f('action')}, ${f('latency_ms')} ms`;
      break;
    case 'job_broadcast':
      what = `template ${f('template_id')} broadcast (${f('kind')}) to ${f('connections')} connections`;
      break;
    case 'prevhash_switch':
      what = `prevhash switch to template ${f('template_id')} (height ${f('height')}): cause ${f('cause')}, ${f('latency_ms')} ms${e.from_hold === true ? `, ended the hold on template ${f('held_template_id')}` : ''}`;
      break;
    case 'stale_hold_started':
      what = `STALE HOLD started: template ${f('template_id')} held back (${f('reason_code')}); miners stay on template ${f('held_template_id')} for up to ${f('hold_ms')} ms`;
      break;
    case 'stale_hold_ended':
      what = `stale hold ended: ${f('outcome')} after ${f('duration_ms')} ms${e.disconnected !== undefined ? `, ${f('disconnected')} miners disconnected` : ''}`;
      break;
    case 'miner_disconnected':
      what = `connection ${f('conn_id')} disconnected: ${f('reason_code')} (#${f('order')})`;
      break;
    case 'share_accepted':
      what = `share ${f('share_id')} accepted: connection ${f('conn_id')} channel ${f('channel_id')} seq ${f('sequence_number')} job ${f('job_id')} template ${f('template_id')}, ${f('identity')}, difficulty ${f('difficulty')}${e.stale_hold === true ? ' (during a stale hold)' : ''}${e.block === true ? ', BLOCK' : ''}`;
      break;
    case 'share_rejected':
      what = `share rejected: connection ${f('conn_id')} channel ${f('channel_id')} seq ${f('sequence_number')}: ${f('reason_code')}`;
      break;
    case 'jd_declaration_verdict':
      what = `declaration ${f('declaration_id')} (connection ${f('conn_id')} request ${f('request_id')}, ${f('user')}, ${f('tx_count')} tx, ${f('missing_count')} provided) ${e.accepted === true ? 'accepted' : 'rejected'} (${f('mode')}): ${f('reason_code')} ${f('reason_detail')}; answered ${e.answered_success === true ? 'Success' : `Error ${f('wire')}`}${_nodePart(e.policy_context)}`;
      break;
    case 'jd_proposal_late':
      what = `node answer (${f('answer_kind')}) for declaration ${f('declaration_id')} on connection ${f('conn_id')} arrived after its proposal timeout: ignored`;
      break;
    case 'block_found':
      what = `block found at height ${f('height')}: ${f('block_hash')}`;
      break;
    case 'block_submit_result':
      what = `block ${f('block_hash')} submitted: ${f('result')}${e.reason === undefined ? '' : ` (${f('reason')})`} after ${f('attempts')} attempts`;
      break;
    case 'share_forward_retry':
      what = `batch ${f('batch_id')} attempt ${f('attempt')} failed (${f('error')}: ${f('reason')}); retry in ${f('retry_in_ms')} ms`;
      break;
    case 'share_forward_result':
      what = `share ${f('share_id')} forwarded: ${f('status')} after ${f('attempts')} attempts, ${f('latency_ms')} ms (batch ${f('batch_id')})${e.reason === undefined ? '' : `: ${f('reason')}`}`;
      break;
    default:
      what = `${e.type} ${JSON.stringify(e)}`;
  }
  return `${at}${what}`;
}

function _shareText(s: ShareLifecycle): string {
  const status = s.forward_result === null ? 'not settled in this log (still queued, or the log ends first)' : `${String(s.forward_result.status)} after ${String(s.forward_result.attempts)} attempts`;
  return [`share ${s.share_id} (run ${s.run}): forwarding ${status}`, ...s.timeline.map((e) => `  ${describeLogEvent(e)}`)].join('\n');
}

function _templateText(t: TemplateStory): string {
  const verdict = t.verdicts.at(-1);
  const head = `template ${t.template_id} (run ${t.run}): ${verdict === undefined ? 'no verdict in the log' : `verdict ${String(verdict.reason_code)} (${String(verdict.action)})`}; ` +
    `${t.switches.length} prevhash switch${t.switches.length === 1 ? '' : 'es'}, ${t.holds.length} stale hold${t.holds.length === 1 ? '' : 's'}` +
    `${t.holds.length > 0 ? ` (${t.hold_ends.map((e) => (e === null ? 'still on' : String(e.outcome))).join(', ')}; ${t.shares_during_hold} shares on held work)` : ''}, ` +
    `${t.disconnects.length} miners disconnected, ${t.refused.length} connections refused, ${t.shares_accepted} shares accepted on it`;
  return [head, ...t.timeline.map((e) => `  ${describeLogEvent(e)}`)].join('\n');
}

function _connectionText(c: ConnectionSession): string {
  const rejected = Object.entries(c.shares_rejected).map(([k, v]) => `${k} ${v}`).join(', ');
  const head = `connection ${c.conn_id} (run ${c.run}): ${c.channels.length} channel${c.channels.length === 1 ? '' : 's'}, ${c.shares_accepted} shares accepted${rejected === '' ? '' : `, rejected: ${rejected}`}; ` +
    `${c.closed === null ? 'still open at the end of the log' : `closed: ${String(c.closed.reason_code)}`}`;
  return [head, ...c.timeline.map((e) => `  ${describeLogEvent(e)}`)].join('\n');
}

function _summaryText(s: LogSummary): string {
  const table = (title: string, m: Readonly<Record<string, number>>): string[] => {
    const rows = Object.entries(m).sort((a, b) => b[1] - a[1]);
    return rows.length === 0 ? [] : [`${title}:`, ...rows.map(([k, v]) => `  ${String(v).padStart(8)}  ${k}`)];
  };
  return [
    `${s.events} events in ${s.runs} run${s.runs === 1 ? '' : 's'}${s.first_ts === null ? '' : ` from ${s.first_ts} to ${s.last_ts}`}${s.skipped_lines > 0 ? `; ${s.skipped_lines} unreadable lines skipped` : ''}`,
    `shares accepted ${s.shares_accepted}; blocks found ${s.blocks_found}; prevhash switches ${s.prevhash_switches}`,
    ...table('events by type', s.by_type),
    ...table('shares rejected by reason', s.shares_rejected_by_reason),
    ...table('connections closed by reason', s.connections_closed_by_reason),
    ...table('template verdicts by mode and reason', s.verdicts_by_mode_reason),
    ...table('job declaration verdicts by mode and reason', s.declarations_by_mode_reason),
    ...table('stale holds by reason', s.stale_holds_by_reason),
    ...table('stale hold outcomes', s.stale_hold_outcomes),
    ...table('share forwarding results', s.forward_results_by_status),
    ...table('block submit results', s.block_results),
  ].join('\n');
}

// ---- the command --------------------------------------------------------------------------------

export const replayCommand: Command = {
  words: ['replay'],
  usage: USAGE,
  summary: 'Reconstruct from the JSON-line event log: a share\'s lifecycle, a template\'s verdict and consequences, a miner\'s session, or a summary.',
  docs: 'docs/operations.md',
  run(args, io) {
    return runReplay(args, io);
  },
};

export const replayCommands: Command[] = [replayCommand];

function runReplay(args: readonly string[], io: CliIo): number {
  const files: string[] = [];
  let selector: { kind: 'share' | 'template' | 'connection'; id: string } | { kind: 'summary' } | undefined;
  let json = false;
  const fail = (why: string): number => {
    io.stderr(`reservegrid replay: ${why}\nUsage: reservegrid ${USAGE}\n`);
    return 2;
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const eq = a.indexOf('=');
    const name = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    switch (name) {
      case '--share':
      case '--template':
      case '--connection': {
        const value = eq > 0 && a.startsWith('--') ? a.slice(eq + 1) : args[++i];
        if (value === undefined || value === '') return fail(`${name} needs an id`);
        if (selector !== undefined) return fail('give one of --share, --template, --connection, --summary');
        if (name === '--connection' && !/^\d+$/.test(value)) return fail(`--connection needs a connection id (an integer), got ${JSON.stringify(value)}`);
        selector = { kind: name.slice(2) as 'share' | 'template' | 'connection', id: value };
        break;
      }
      case '--summary':
        if (selector !== undefined) return fail('give one of --share, --template, --connection, --summary');
        selector = { kind: 'summary' };
        break;
      case '--json':
        json = true;
        break;
      default:
        if (a.startsWith('--')) return fail(`unknown option ${JSON.stringify(a)}`);
        files.push(a);
    }
  }
  if (files.length === 0) return fail('give the event log file (gateway.event_log_path)');
  const texts: { name: string; text: string }[] = [];
  for (const name of files) {
    try {
      texts.push({ name, text: io.readFile(name) });
    } catch (error) {
      io.stderr(`reservegrid replay: cannot read ${name}: ${error instanceof Error ? error.message : String(error)}\n`);
      return 1;
    }
  }
  const log = parseEventLog(texts);
  const out = (value: unknown, text: string): void => io.stdout(`${json ? JSON.stringify(value, null, 2) : text}\n`);
  const sel = selector ?? { kind: 'summary' as const };
  switch (sel.kind) {
    case 'summary': {
      const s = replaySummary(log);
      out(s, _summaryText(s));
      return 0;
    }
    case 'share': {
      const s = replayShare(log, sel.id);
      if (s === null) {
        io.stderr(`reservegrid replay: no share_accepted with share_id ${JSON.stringify(sel.id)} in ${files.join(', ')}\n`);
        return 1;
      }
      out(s, _shareText(s));
      return 0;
    }
    case 'template': {
      const stories = replayTemplate(log, sel.id);
      if (stories.length === 0) {
        io.stderr(`reservegrid replay: template ${JSON.stringify(sel.id)} is not in ${files.join(', ')}\n`);
        return 1;
      }
      out(stories, stories.map(_templateText).join('\n\n'));
      return 0;
    }
    case 'connection': {
      const sessions = replayConnection(log, Number(sel.id));
      if (sessions.length === 0) {
        io.stderr(`reservegrid replay: connection ${sel.id} is not in ${files.join(', ')}\n`);
        return 1;
      }
      out(sessions, sessions.map(_connectionText).join('\n\n'));
      return 0;
    }
  }
}
