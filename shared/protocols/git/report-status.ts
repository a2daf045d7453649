/**
 * The push reply (gitprotocol-pack "report-status", gitprotocol-capabilities
 * "report-status-v2"):
 *
 *   unpack SP ("ok" | <error>) LF
 *   ("ok" SP <ref> | "ng" SP <ref> SP <reason>) LF        one per command, in order
 *   [option SP (refname|old-oid|new-oid) SP <value> | option SP forced-update] LF   v2, after an ok
 *   flush
 *
 * With side-band-64k the whole report (its flush included) is the payload of
 * band-1 packets, followed by an outer flush.
 */
import { utf8Encode } from '../../core/bytes.js';
import { FLUSH, textPkt, type Pkt } from './capabilities.js';
import { encodePkts } from './pkt-line.js';
import { refNameBytes, refNameIsUtf8 } from './ref-name.js';

/** The outcome for one command. */
export type RefStatus =
  | { ref: string; ok: true; options?: RefStatusOptions }
  | { ref: string; ok: false; reason: string };

/** report-status-v2 extras after an `ok` line; the hub never needs them but may rewrite refs later. */
export interface RefStatusOptions {
  refname?: string;
  oldId?: string;
  newId?: string;
  forcedUpdate?: boolean;
}

/** A whole push report. */
export interface PushReport {
  /** `ok`, or why the pack was refused. */
  unpack: { ok: true } | { ok: false; error: string };
  refs: RefStatus[];
}

/** Largest side-band-64k payload after the band byte: 65520 - 4 - 1. */
export const SIDEBAND_64K_DATA = 65515;

/** Free text on one line: no LF/CR/NUL (they would end or corrupt the line). */
function oneLine(text: string): string {
  return text.replace(/[\r\n\0]+/g, ' ').trim();
}

/** A report line naming `ref` in the bytes the client sent (refNameBytes: a name may not be UTF-8). */
function refPkt(before: string, ref: string, after: string): Pkt {
  if (refNameIsUtf8(ref)) return textPkt(before + ref + after);
  const parts = [utf8Encode(before), refNameBytes(ref), utf8Encode(after)];
  const payload = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (payload.set(p, at), at + p.length), 0);
  return { kind: 'data', payload };
}

/** The report's own pkt-lines, ending with its flush. `v2` allows option lines. */
export function reportStatusLines(report: PushReport, v2: boolean): Pkt[] {
  const out: Pkt[] = [textPkt(report.unpack.ok ? 'unpack ok\n' : `unpack ${oneLine(report.unpack.error) || 'failed'}\n`)];
  for (const s of report.refs) {
    if (!s.ok) {
      out.push(refPkt('ng ', s.ref, ` ${oneLine(s.reason) || 'failed'}\n`));
      continue;
    }
    out.push(refPkt('ok ', s.ref, '\n'));
    const o = s.options;
    if (!v2 || !o) continue;
    if (o.refname !== undefined) out.push(textPkt(`option refname ${o.refname}\n`));
    if (o.oldId !== undefined) out.push(textPkt(`option old-oid ${o.oldId}\n`));
    if (o.newId !== undefined) out.push(textPkt(`option new-oid ${o.newId}\n`));
    if (o.forcedUpdate) out.push(textPkt('option forced-update\n'));
  }
  out.push(FLUSH);
  return out;
}

/**
 * The whole receive-pack reply body for `report`: the report's lines, or with
 * `sideBand` those lines as band-1 payload split to fit side-band-64k, then the
 * outer flush. Band-2 messages (hook output) go before it, from the caller.
 */
export function reportStatusResponse(report: PushReport, opts: { sideBand: boolean; v2: boolean }): Pkt[] {
  const inner = reportStatusLines(report, opts.v2);
  if (!opts.sideBand) return inner;
  const bytes = encodePkts(inner);
  const out: Pkt[] = [];
  for (let at = 0; at < bytes.length; at += SIDEBAND_64K_DATA) {
    const chunk = bytes.subarray(at, Math.min(bytes.length, at + SIDEBAND_64K_DATA));
    const payload = new Uint8Array(chunk.length + 1);
    payload[0] = 1;
    payload.set(chunk, 1);
    out.push({ kind: 'data', payload });
  }
  out.push(FLUSH);
  return out;
}
