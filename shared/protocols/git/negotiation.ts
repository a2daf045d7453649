/**
 * Have/ACK negotiation of upload-pack, as pure decisions (git's upload-pack.c
 * get_common_commits for v0, process_haves_and_send_acks for v2). HTTP is
 * stateless: each request is one round, decided from its own haves.
 *
 * v0, multi_ack_detailed (+ no-done):
 *   per have:   known -> "ACK <id> common";  unknown but wants covered -> "ACK <id> ready"
 *   flush:      ["ACK <last> ready"] "NAK" [+ "ACK <last>" and the pack when ready and no-done]
 *   done:       "ACK <last>" if any common, else "NAK"; then the pack
 * v2:
 *   done, or no haves:  no acknowledgments section, straight to the pack
 *   otherwise:          "acknowledgments" ("NAK" | "ACK <id>"...) ["ready" delim | flush]
 *
 * Storage is reached only through a `HaveOracle`.
 */
import { DELIM, FLUSH, textPkt, type Pkt } from './capabilities.js';
import type { MultiAck } from './upload-request.js';

/** What negotiation needs to know of the repository. */
export interface HaveOracle {
  /** True if we have this object (git acknowledges any object it has, not only commits). */
  has(id: string): boolean | Promise<boolean>;
  /**
   * True if every want reaches one of `common` (git's ok_to_give_up): the pack
   * can then be cut there. Called with a growing list; a cheap "any common have"
   * answer is correct too (the pack is then merely larger).
   */
  covered(common: readonly string[]): boolean | Promise<boolean>;
}

/** Result of one v0 round. */
export interface V0Decision {
  /** Lines to send (before the pack when `sendPack`). */
  lines: Pkt[];
  /** Send the pack after `lines`; otherwise end the response (after the flush-less lines). */
  sendPack: boolean;
  /** Distinct known haves, in order: the pack may omit what they reach. */
  common: string[];
}

/** `covered` with memo: it only grows true, and is re-asked only when `common` grew. */
function coverage(oracle: HaveOracle, common: string[]): () => Promise<boolean> {
  let answer = false;
  let askedAt = -1;
  return async () => {
    if (answer || common.length === 0) return answer;
    if (askedAt === common.length) return false;
    askedAt = common.length;
    answer = await oracle.covered(common);
    return answer;
  };
}

/** Decide a v0 round (stateless RPC): the ACK/NAK lines and whether the pack follows. */
export async function negotiateV0(
  req: { haves: readonly string[]; end: 'wants-only' | 'flush' | 'done'; multiAck: MultiAck; noDone: boolean },
  oracle: HaveOracle,
): Promise<V0Decision> {
  const lines: Pkt[] = [];
  const common: string[] = [];
  if (req.end === 'wants-only') return { lines, sendPack: false, common };
  const known = new Set<string>();
  const ok = coverage(oracle, common);
  const detailed = req.multiAck === 'multi_ack_detailed';
  const multi = req.multiAck !== 'none';
  let gotCommon = false;
  let gotOther = false;
  let sentReady = false;
  let last = '';
  for (const id of req.haves) {
    if (!(await oracle.has(id))) {
      gotOther = true;
      if (multi && (await ok())) {
        if (detailed) {
          sentReady = true;
          lines.push(textPkt(`ACK ${id} ready\n`));
        } else lines.push(textPkt(`ACK ${id} continue\n`));
      }
      continue;
    }
    if (!known.has(id)) {
      known.add(id);
      common.push(id);
    }
    gotCommon = true;
    last = id;
    if (detailed) lines.push(textPkt(`ACK ${id} common\n`));
    else if (multi) lines.push(textPkt(`ACK ${id} continue\n`));
    else if (known.size === 1) lines.push(textPkt(`ACK ${id}\n`));
  }
  if (req.end === 'done') {
    if (known.size > 0) {
      if (multi) lines.push(textPkt(`ACK ${last}\n`));
    } else lines.push(textPkt('NAK\n'));
    return { lines, sendPack: true, common };
  }
  if (detailed && gotCommon && !gotOther && (await ok())) {
    sentReady = true;
    lines.push(textPkt(`ACK ${last} ready\n`));
  }
  if (known.size === 0 || multi) lines.push(textPkt('NAK\n'));
  if (req.noDone && sentReady) {
    lines.push(textPkt(`ACK ${last}\n`));
    return { lines, sendPack: true, common };
  }
  return { lines, sendPack: false, common };
}

/** Result of a v2 fetch's negotiation. */
export interface V2Decision {
  /** The acknowledgments section, ended by its delim (ready) or the response's flush; empty when there is none. */
  section: Pkt[];
  /** Go on with shallow-info / wanted-refs / packfile; otherwise `section` ended the response. */
  sendPack: boolean;
  /** Distinct known haves, in order. */
  common: string[];
}

/** Decide a v2 fetch round. */
export async function negotiateV2(
  args: { haves: readonly string[]; done: boolean; waitForDone: boolean },
  oracle: HaveOracle,
): Promise<V2Decision> {
  const common: string[] = [];
  const seen = new Set<string>();
  for (const id of args.haves) {
    if (seen.has(id)) continue;
    seen.add(id);
    if (await oracle.has(id)) common.push(id);
  }
  if (args.done || args.haves.length === 0) return { section: [], sendPack: true, common };
  const section: Pkt[] = [textPkt('acknowledgments\n')];
  if (common.length === 0) section.push(textPkt('NAK\n'));
  for (const id of common) section.push(textPkt(`ACK ${id}\n`));
  if (!args.waitForDone && (await coverage(oracle, common)())) {
    section.push(textPkt('ready\n'), DELIM);
    return { section, sendPack: true, common };
  }
  section.push(FLUSH);
  return { section, sendPack: false, common };
}
