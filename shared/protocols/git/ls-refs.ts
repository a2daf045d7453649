/**
 * v2 `ls-refs` (gitprotocol-v2): arguments after the delim, and the reply.
 *
 *   request args:  peel | symrefs | unborn | ref-prefix <prefix>   (each optional, any order), flush
 *   reply:         <id> SP <name> [SP symref-target:<t>] [SP peeled:<id>] LF ...
 *                  | unborn SP HEAD [SP symref-target:<t>] LF
 *                  flush
 */
import { FLUSH, MAX_LINE, ProtocolError, clip, compareNames, textPkt, type Pkt } from './capabilities.js';
import { textPkts, type AdvertisedRef, type HeadState } from './advertisement.js';

/** What an ls-refs request asks for. */
export interface LsRefsArgs {
  /** Add `peeled:` to annotated tags. */
  peel: boolean;
  /** Add `symref-target:` to symrefs (HEAD). */
  symrefs: boolean;
  /** Send an unborn HEAD as `unborn HEAD` (only when the server allows it). */
  unborn: boolean;
  /** Only refs starting with one of these; null = every ref. */
  prefixes: string[] | null;
}

/**
 * Most prefixes we keep. Past it we list every ref, as git does past its own
 * limit: the client filters again, so this is only a lost optimisation.
 */
export const MAX_REF_PREFIXES = 1024;

/** Parse ls-refs argument lines (text already LF-stripped). `unbornAllowed`: we advertised `ls-refs=unborn`. */
export function parseLsRefsArgs(lines: readonly string[], unbornAllowed: boolean): LsRefsArgs {
  const args: LsRefsArgs = { peel: false, symrefs: false, unborn: false, prefixes: [] };
  let tooMany = false;
  for (const line of lines) {
    if (line === 'peel') args.peel = true;
    else if (line === 'symrefs') args.symrefs = true;
    else if (line === 'unborn') args.unborn = unbornAllowed;
    else if (line.startsWith('ref-prefix ')) {
      const prefix = line.slice('ref-prefix '.length);
      if (prefix.length > MAX_LINE) throw new ProtocolError('bad-line', 'ref-prefix too long');
      if (args.prefixes!.length < MAX_REF_PREFIXES) args.prefixes!.push(prefix);
      else tooMany = true;
    } else throw new ProtocolError('unexpected-line', `ls-refs: unexpected line: '${clip(line)}'`, { line: clip(line) });
  }
  if (tooMany || args.prefixes!.length === 0) args.prefixes = null;
  return args;
}

function matches(name: string, prefixes: string[] | null): boolean {
  return prefixes === null || prefixes.some((p) => name.startsWith(p));
}

/** The ls-refs reply: HEAD first (if it resolves, or unborn when asked), then refs in byte order, flush. */
export function lsRefsResponse(refs: readonly AdvertisedRef[], head: HeadState | null, args: LsRefsArgs): Pkt[] {
  const out: Pkt[] = [];
  if (head && matches('HEAD', args.prefixes)) {
    const symref = args.symrefs && head.target !== null ? ` symref-target:${head.target}` : '';
    if (head.id !== null) {
      const peeled = args.peel ? refs.find((r) => r.name === head.target)?.peeled : undefined;
      out.push(textPkt(`${head.id} HEAD${symref}${peeled ? ` peeled:${peeled}` : ''}\n`));
    } else if (args.unborn && head.target !== null) {
      out.push(textPkt(`unborn HEAD${symref}\n`));
    }
  }
  const text: string[] = [];
  for (const ref of [...refs].sort((a, b) => compareNames(a.name, b.name))) {
    if (!matches(ref.name, args.prefixes)) continue;
    text.push(`${ref.id} ${ref.name}${args.peel && ref.peeled ? ` peeled:${ref.peeled}` : ''}\n`);
  }
  return [...out, ...textPkts(text), FLUSH];
}
