/**
 * Configuration sync (src/configure.c, fossil 2.21). A client asks with
 * `reqconfig /GROUP` (a clone: `/all`; `fossil configuration pull|sync G`)
 * and gets one card per value or table row:
 *
 *     config /config SIZE \n MTIME 'NAME' value 'VALUE' \n
 *     config /shun SIZE \n MTIME 'UUID' scom 'WHY' \n
 *     config /reportfmt SIZE \n MTIME 'TITLE' owner .. cols .. sqlcode .. jx .. \n
 *
 * An admin's `fossil configuration push|sync` sends the same cards; each is
 * merged like fossil's configure_receive: a record that is not well formed,
 * names an unknown table, field or setting is ignored, and the larger mtime
 * wins. The hub never sends or takes `/user` (its accounts are its own) and
 * sends `/concealed` (email addresses) to admins only. A shun entry also
 * shuns the artifact on the hub, as fossil server stops serving it. URL
 * aliases (`walias:/PATH`) and interwiki prefixes (`interwiki:TAG`) travel as
 * `/config` values named by prefix (configure_is_exportable); the hub keeps
 * them as rows of tables `alias` and `interwiki`.
 */
import { utf8Decode, utf8Encode } from '../../core/bytes.js';
import type { ConfigEntry, FossilConfigRow, FossilConfigTable, FossilStore } from '../../storage/fossil.js';
import type { XferWriter } from './message.js';

/** Config group bits (CONFIGSET_*; email subscribers, 512, are not kept by the hub). */
const CSS = 1, SKIN = 2, TKT = 4, PROJ = 8, SHUN = 16, USER = 32, ADDR = 64, XFER = 128, ALIAS = 256, IWIKI = 1024;
const ALL = CSS | SKIN | TKT | PROJ | SHUN | USER | ADDR | XFER | ALIAS | IWIKI;
/** CONFIGSET_TH1: the TH1 settings go with the skin, ticket and xfer groups. */
const TH1 = SKIN | TKT | XFER;

/** Group names of `reqconfig /NAME`, in fossil's order (a name matches by prefix, first wins). */
const GROUPS: [string, number][] = [
  ['email', ADDR],
  ['project', PROJ],
  ['skin', SKIN | CSS],
  ['css', CSS],
  ['shun', SHUN],
  ['ticket', TKT],
  ['user', USER],
  ['xfer', XFER],
  ['alias', ALIAS],
  ['subscriber', 0],
  ['interwiki', IWIKI],
  ['all', ALL],
];

/** Settings that sync carries, with their group (aConfig). Others, such as project-code, never travel. */
const SETTINGS: Record<string, number> = {
  css: CSS,
  ...Object.fromEntries(
    ['header', 'footer', 'details', 'js', 'mainmenu', 'default-skin', 'logo-mimetype', 'logo-image', 'background-mimetype', 'background-image',
      'icon-mimetype', 'icon-image', 'timeline-block-markup', 'timeline-date-format', 'timeline-default-style', 'timeline-dwelltime',
      'timeline-closetime', 'timeline-max-comment', 'timeline-plaintext', 'timeline-truncate-at-blank', 'timeline-tslink-info', 'timeline-utc',
      'adunit', 'adunit-omit-if-admin', 'adunit-omit-if-user', 'default-csp', 'sitemap-extra', 'safe-html'].map((n) => [n, SKIN]),
  ),
  ...Object.fromEntries(['th1-docs', 'th1-hooks', 'th1-setup', 'th1-uri-regexp', 'tcl-setup'].map((n) => [n, TH1])),
  ...Object.fromEntries(
    ['project-name', 'short-project-name', 'project-description', 'index-page', 'manifest', 'binary-glob', 'clean-glob', 'ignore-glob', 'keep-glob',
      'crlf-glob', 'crnl-glob', 'encoding-glob', 'empty-dirs', 'allow-symlinks', 'dotfiles', 'parent-project-code', 'parent-project-name',
      'hash-policy', 'comment-format', 'mimetypes', 'forbid-delta-manifests', 'mv-rm-files'].map((n) => [n, PROJ]),
  ),
  ...Object.fromEntries(
    ['ticket-table', 'ticket-common', 'ticket-change', 'ticket-newpage', 'ticket-viewpage', 'ticket-editpage', 'ticket-reportlist',
      'ticket-report-template', 'ticket-key-template', 'ticket-title-expr', 'ticket-closed-expr'].map((n) => [n, TKT]),
  ),
  ...Object.fromEntries(['xfer-common-script', 'xfer-push-script', 'xfer-commit-script', 'xfer-ticket-script'].map((n) => [n, XFER])),
};

/** The tables besides config: group, and the fields a row may carry after its key (receiveType). */
const TABLES: Record<'shun' | 'reportfmt' | 'concealed', { group: number; fields: string[] }> = {
  shun: { group: SHUN, fields: ['scom'] },
  reportfmt: { group: TKT, fields: ['owner', 'cols', 'sqlcode', 'jx'] },
  concealed: { group: ADDR, fields: ['content'] },
};

/** Config values named by a prefix, kept as rows: prefix, table, group. */
const PREFIXED: [string, FossilConfigTable, number][] = [
  ['walias:/', 'alias', ALIAS],
  ['interwiki:', 'interwiki', IWIKI],
];

/** Settings fossil keeps as blobs (the images of setup_logo): kept and sent as the literal that came, X'...'. */
const IMAGES = new Set(['logo-image', 'background-image', 'icon-image']);
/** Longest such literal kept: a DO SQLite row holds at most 2 MB (an image of ~900 KB in hex). */
const MAX_IMAGE_LITERAL = 1_800_000;

/** Most rows of one table sent per request (bounds memory; a shun list is short). */
const MAX_ROWS = 10_000;

function sqlQuote(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/** The groups `reqconfig NAME` asks for (0 when none), as configure_name_to_mask, less what `admin` may not read. */
export function configGroupMask(name: string, admin: boolean): number {
  if (!name.startsWith('/') || name.length < 2) return 0;
  const want = name.slice(1);
  const mask = GROUPS.find(([g]) => g.startsWith(want))?.[1] ?? 0;
  return mask & ~USER & (admin ? ALL : ~ADDR);
}

/** Splits a record into (name, SQL token) pairs as blob_token/blob_sqltoken do; null when a token is cut off. */
function tokens(text: string): [string, string][] | null {
  const out: [string, string][] = [];
  let i = 0;
  const skip = () => {
    while (i < text.length && /\s/.test(text[i])) i++;
  };
  const word = () => {
    const s = i;
    while (i < text.length && !/\s/.test(text[i])) i++;
    return text.slice(s, i);
  };
  for (;;) {
    skip();
    if (i >= text.length) return out;
    const name = word();
    skip();
    if (i >= text.length) return out;
    let value: string;
    const s = i;
    if (text[i] === "'" || ((text[i] === 'x' || text[i] === 'X') && text[i + 1] === "'")) {
      i = text.indexOf("'", i) + 1;
      for (;;) {
        const q = text.indexOf("'", i);
        if (q < 0) return null;
        i = q + 1;
        if (text[i] !== "'") break;
        i++;
      }
      value = text.slice(s, i);
    } else {
      value = word();
    }
    out.push([name, value]);
  }
}

/** safeSql: a string or blob literal, or a run of letters and digits (numbers, NULL). */
function safeSql(z: string): boolean {
  if (/^[xX]?'/.test(z)) return /^[xX]?'(?:[^']|'')*'$/.test(z);
  return /^[A-Za-z0-9]+$/.test(z);
}

/** The text of a string literal, else null. */
function unquote(z: string): string | null {
  return /^'(?:[^']|'')*'$/.test(z) ? z.slice(1, -1).replaceAll("''", "'") : null;
}

const isHash = (s: string) => /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(s);

/** Collects an admin's `config` cards of one request; `apply` merges them into the store. */
export class ConfigReceiver {
  private readonly values = new Map<string, ConfigEntry>();
  private readonly rows: FossilConfigRow[] = [];

  /** One `config NAME SIZE` card; what fossil would ignore is ignored. */
  receive(name: string, payload: Uint8Array): void {
    const pairs = tokens(utf8Decode(payload));
    if (pairs === null || pairs.length === 0) return;
    const [[mtimeText, keyToken], ...rest] = pairs;
    if (!/^[0-9]{1,15}$/.test(mtimeText) || !safeSql(keyToken)) return;
    const mtime = Number(mtimeText);
    const key = unquote(keyToken);
    if (key === null) return;
    if (name === '/config') {
      const value = rest.find(([f]) => f === 'value')?.[1];
      const prefixed = PREFIXED.find(([p]) => key.startsWith(p) && key.length > p.length);
      if (prefixed) {
        if (value !== undefined && safeSql(value)) this.rows.push({ table: prefixed[1], key, mtime, fields: ` value ${value}` });
        return;
      }
      if (value === undefined || !safeSql(value) || SETTINGS[key] === undefined) return;
      const text = IMAGES.has(key) ? (value.length <= MAX_IMAGE_LITERAL ? value : null) : (unquote(value) ?? (/^[0-9]+$/.test(value) ? value : null));
      if (text === null) return;
      const old = this.values.get(key);
      if (!old || old.mtime < mtime) this.values.set(key, { name: key, value: text, mtime });
      return;
    }
    const table = name.slice(1) as keyof typeof TABLES;
    if (!name.startsWith('/') || !Object.hasOwn(TABLES, table)) return;
    if (table === 'shun' && !isHash(key)) return;
    let fields = '';
    for (const [f, v] of rest) {
      if (!safeSql(v)) return;
      if (TABLES[table].fields.includes(f)) fields += ` ${f} ${v}`;
    }
    this.rows.push({ table, key, mtime, fields });
  }

  /** Merges what was received: the larger mtime wins; shun entries shun their artifacts. */
  async apply(store: FossilStore): Promise<void> {
    if (this.values.size > 0) {
      const incoming = [...this.values.values()];
      const stored = await store.getConfig(incoming.map((e) => e.name));
      const newer = incoming.filter((e, i) => !stored[i] || stored[i]!.mtime < e.mtime);
      if (newer.length > 0) await store.commit({ config: newer });
    }
    if (this.rows.length > 0) {
      await store.configRows.put(this.rows);
      const shun = this.rows.filter((r) => r.table === 'shun').map((r) => r.key);
      if (shun.length > 0) await store.setShunned(shun, true);
    }
  }
}

function configCard(out: XferWriter, table: string, record: string): void {
  const payload = utf8Encode(record);
  out.cardWithPayload('config', [`/${table}`, payload.length], payload);
}

/** Writes the config cards of the groups in `mask` (configure_send_group): table rows first, then settings. */
export async function sendConfig(store: FossilStore, mask: number, out: XferWriter): Promise<void> {
  if (mask & SHUN) {
    const rows = await store.configRows.list('shun', MAX_ROWS);
    const listed = new Set(rows.map((r) => r.key));
    for (const r of rows) configCard(out, 'shun', `${r.mtime} ${sqlQuote(r.key)}${r.fields}`);
    // Artifacts shunned on the hub itself (moderation) go out too, so a clone drops them.
    for (const h of await store.configRows.listShunned(MAX_ROWS)) {
      if (!listed.has(h)) configCard(out, 'shun', `0 ${sqlQuote(h)} scom NULL`);
    }
  }
  for (const table of ['reportfmt', 'concealed'] as const) {
    if (!(mask & TABLES[table].group)) continue;
    for (const r of await store.configRows.list(table, MAX_ROWS)) configCard(out, table, `${r.mtime} ${sqlQuote(r.key)}${r.fields}`);
  }
  const names = Object.keys(SETTINGS).filter((n) => SETTINGS[n] & mask);
  for (const e of await store.getConfig(names)) {
    if (e !== null) configCard(out, 'config', `${e.mtime} ${sqlQuote(e.name)} value ${IMAGES.has(e.name) ? e.value : sqlQuote(e.value)}`);
  }
  for (const [, table, group] of PREFIXED) {
    if (!(mask & group)) continue;
    for (const r of await store.configRows.list(table, MAX_ROWS)) configCard(out, 'config', `${r.mtime} ${sqlQuote(r.key)}${r.fields}`);
  }
}
