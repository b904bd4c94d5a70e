// The checkers of a verify run (RELIABILITY.md): given what producers were told, what consumers
// handled, the final contents of the log and the group's committed offsets, find every anomaly.
// Pure functions over a History, so each checker is tested on hand-made histories that break it.
//
// Values are `<producer>:<seq>`: the producer is one process incarnation (a restarted producer is a
// new one), seq counts its sends from 0 in send order.

export interface History {
  /** Acknowledged sends: value → where the broker said it stored it. */
  acked: Map<string, { partition: number; offset: number }>;
  /** Sends that ended in an error (DELIVERY_TIMEOUT and the like may still be in the log). */
  failed: Set<string>;
  /** Per producer: the highest seq it began to send (a value above it cannot exist). */
  attempted: Map<string, number>;
  /** Every message a consumer handler ran for (redeliveries included). */
  deliveries: Array<{ partition: number; offset: number; value: string }>;
  /** Final read of the whole log, per partition, in offset order. */
  log: Map<number, Array<{ offset: number; value: string }>>;
  /** High watermark per partition at the final read. */
  logEnd: Map<number, number>;
  /** The group's committed offsets after the drain (partition → offset). */
  committed: Map<number, number>;
  /** Bit flips the nemesis made in stored data, each read back before it was undone. */
  corruption: CorruptionProbe[];
}

/** One bit flip read back: `detected` when the broker refused the damaged batch (KAFKA_STORAGE_ERROR) instead of serving it. */
export interface CorruptionProbe {
  detail: string;
  detected: boolean;
}

export interface Anomaly {
  kind: AnomalyKind;
  detail: string;
}

export type AnomalyKind =
  | 'lost' // acknowledged, not in the log
  | 'moved' // acknowledged at one offset, found at another
  | 'duplicated' // one value at two offsets
  | 'unexpected' // a value no producer sent (or beyond what it attempted)
  | 'reordered' // a producer's values out of send order within a partition
  | 'offset-conflict' // one offset read with two values
  | 'undelivered' // acknowledged, never handled by the group
  | 'committed-past-unprocessed' // a committed offset covers a message no consumer handled
  | 'committed-past-end' // a committed offset beyond the end of the log
  | 'undetected-corruption'; // a flipped bit in stored data was served instead of refused

export interface CheckResult {
  valid: boolean;
  counts: {
    acked: number;
    failed: number;
    /** Failed sends found in the log anyway (allowed: the error was indeterminate). */
    failedButStored: number;
    /** Sends never acknowledged nor failed (their process died), found in the log. */
    unconfirmedStored: number;
    inLog: number;
    delivered: number;
    distinctDelivered: number;
    redeliveries: number;
    /** Bit flips the broker refused to serve (of `corruption` in the history). */
    corruptionDetected: number;
  };
  anomalies: Record<AnomalyKind, number>;
  /** The first few anomalies of each kind, described. */
  examples: Anomaly[];
}

const EXAMPLES_PER_KIND = 5;

function parseValue(value: string): { producer: string; seq: number } | null {
  const i = value.lastIndexOf(':');
  if (i <= 0) return null;
  const seq = Number(value.slice(i + 1));
  return Number.isSafeInteger(seq) && seq >= 0 ? { producer: value.slice(0, i), seq } : null;
}

export function check(h: History): CheckResult {
  const anomalies: Record<AnomalyKind, number> = {
    lost: 0, moved: 0, duplicated: 0, unexpected: 0, reordered: 0, 'offset-conflict': 0, undelivered: 0, 'committed-past-unprocessed': 0, 'committed-past-end': 0, 'undetected-corruption': 0,
  };
  const examples: Anomaly[] = [];
  const report = (kind: AnomalyKind, detail: string): void => {
    anomalies[kind]++;
    if (anomalies[kind] <= EXAMPLES_PER_KIND) examples.push({ kind, detail });
  };

  // The log: where each value is, and what each offset holds.
  const where = new Map<string, Array<{ partition: number; offset: number }>>();
  const atOffset = new Map<string, string>();
  let inLog = 0;
  for (const [partition, entries] of h.log) {
    for (const e of entries) {
      inLog++;
      const key = `${partition}@${e.offset}`;
      const seen = atOffset.get(key);
      if (seen !== undefined && seen !== e.value) report('offset-conflict', `${key} read as ${seen} and ${e.value} in the final read`);
      atOffset.set(key, e.value);
      const list = where.get(e.value) ?? [];
      list.push({ partition, offset: e.offset });
      where.set(e.value, list);
    }
  }

  // duplicated / unexpected
  let failedButStored = 0;
  let unconfirmedStored = 0;
  for (const [value, places] of where) {
    if (places.length > 1) report('duplicated', `${value} at ${places.map((p) => `${p.partition}@${p.offset}`).join(', ')}`);
    const parsed = parseValue(value);
    const max = parsed === null ? undefined : h.attempted.get(parsed.producer);
    if (parsed === null || max === undefined || parsed.seq > max) {
      report('unexpected', `${value} at ${places[0].partition}@${places[0].offset} was never sent`);
      continue;
    }
    if (h.failed.has(value)) failedButStored++;
    else if (!h.acked.has(value)) unconfirmedStored++;
  }

  // lost / moved
  for (const [value, at] of h.acked) {
    const places = where.get(value);
    if (places === undefined) report('lost', `${value} acknowledged at ${at.partition}@${at.offset}, not in the log`);
    else if (!places.some((p) => p.partition === at.partition && p.offset === at.offset)) {
      report('moved', `${value} acknowledged at ${at.partition}@${at.offset}, found at ${places.map((p) => `${p.partition}@${p.offset}`).join(', ')}`);
    }
  }

  // reordered: per producer and partition, seqs rise with offsets.
  for (const [partition, entries] of h.log) {
    const last = new Map<string, { seq: number; offset: number }>();
    for (const e of entries) {
      const parsed = parseValue(e.value);
      if (parsed === null) continue;
      const prev = last.get(parsed.producer);
      if (prev !== undefined && parsed.seq <= prev.seq) {
        report('reordered', `partition ${partition}: ${parsed.producer}:${parsed.seq} at offset ${e.offset} after ${parsed.producer}:${prev.seq} at offset ${prev.offset}`);
      }
      last.set(parsed.producer, { seq: parsed.seq, offset: e.offset });
    }
  }

  // Deliveries agree with the log, one value per offset.
  const deliveredValues = new Set<string>();
  const deliveredOffsets = new Set<string>();
  for (const d of h.deliveries) {
    const key = `${d.partition}@${d.offset}`;
    const stored = atOffset.get(key);
    if (stored !== undefined && stored !== d.value) report('offset-conflict', `${key} delivered as ${d.value}, the log holds ${stored}`);
    else if (stored === undefined) {
      const end = h.logEnd.get(d.partition) ?? 0;
      if (d.offset < end) report('offset-conflict', `${key} delivered as ${d.value}, missing from the final read`);
      else report('offset-conflict', `${key} delivered as ${d.value}, beyond the final end of the log (${end})`);
    }
    deliveredValues.add(d.value);
    deliveredOffsets.add(key);
  }
  for (const [value, at] of h.acked) {
    if (!deliveredValues.has(value)) report('undelivered', `${value} (${at.partition}@${at.offset}) acknowledged but never handled`);
  }

  // Committed offsets: within the log, and everything below them was handled.
  for (const [partition, committed] of h.committed) {
    const end = h.logEnd.get(partition) ?? 0;
    if (committed > end) {
      report('committed-past-end', `partition ${partition}: committed ${committed} > log end ${end}`);
      continue;
    }
    const start = h.log.get(partition)?.[0]?.offset ?? 0;
    let missing = 0;
    let first = -1;
    for (const e of h.log.get(partition) ?? []) {
      if (e.offset >= committed) break;
      if (e.offset < start) continue;
      if (!deliveredOffsets.has(`${partition}@${e.offset}`)) {
        missing++;
        if (first < 0) first = e.offset;
      }
    }
    if (missing > 0) report('committed-past-unprocessed', `partition ${partition}: committed ${committed} but ${missing} message(s) below it never handled (first at offset ${first})`);
  }

  // Damage at rest is detected when read, never served as data.
  for (const c of h.corruption) if (!c.detected) report('undetected-corruption', c.detail);

  const valid = Object.values(anomalies).every((n) => n === 0);
  return {
    valid,
    counts: {
      acked: h.acked.size,
      failed: h.failed.size,
      failedButStored,
      unconfirmedStored,
      inLog,
      delivered: h.deliveries.length,
      distinctDelivered: deliveredValues.size,
      redeliveries: h.deliveries.length - deliveredOffsets.size,
      corruptionDetected: h.corruption.filter((c) => c.detected).length,
    },
    anomalies,
    examples,
  };
}
