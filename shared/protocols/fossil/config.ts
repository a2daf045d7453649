/**
 * Configuration the client asks for (`reqconfig /all` on clone round 2;
 * src/configure.c): each value goes out as
 *
 *     config /config SIZE \n <MTIME 'NAME' value 'VALUE'> \n
 *
 * with SQL quoting ('' for '). The hub holds only the project group: the
 * names below are the ones fossil's CONFIGSET_PROJ has that the hub sets.
 */
import { utf8Encode } from '../../core/bytes.js';
import type { FossilStore } from '../../storage/fossil.js';
import type { XferWriter } from './message.js';

/** Config values sent for the project group (src/configure.c aConfig, CONFIGSET_PROJ). */
export const PROJECT_CONFIG = ['project-name', 'short-project-name', 'project-description', 'hash-policy'] as const;

/** Group names a `reqconfig /NAME` may use (fossil matches a prefix of the group's name). */
const GROUPS = ['skin', 'ticket', 'project', 'all'];

function sqlQuote(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/** True when `reqconfig NAME` asks for the project group (or everything). */
export function wantsProjectConfig(name: string): boolean {
  if (!name.startsWith('/') || name.length < 2) return false;
  const want = name.slice(1);
  const group = GROUPS.find((g) => g.startsWith(want));
  return group === 'project' || group === 'all';
}

/** Writes the project group's config cards. */
export async function sendProjectConfig(store: FossilStore, out: XferWriter): Promise<void> {
  const entries = await store.getConfig([...PROJECT_CONFIG]);
  for (const e of entries) {
    if (e === null) continue;
    const payload = utf8Encode(`${e.mtime} ${sqlQuote(e.name)} value ${sqlQuote(e.value)}`);
    out.cardWithPayload('config', ['/config', payload.length], payload);
  }
}
