// Capability lists, parsing and helpers shared by the git request parsers.
import { describe, expect, it } from 'vitest';
import { requestedProtocolVersion } from '../../../../shared/protocols/git/advertisement.js';
import {
  DEFAULT_RECEIVE_FEATURES,
  DEFAULT_UPLOAD_FEATURES,
  ProtocolError,
  checkObjectFormat,
  compareNames,
  isObjectId,
  parseCapabilities,
  pktText,
  receivePackCapabilities,
  uploadPackV0Capabilities,
  uploadPackV2Capabilities,
} from '../../../../shared/protocols/git/capabilities.js';

const enc = (s: string) => new TextEncoder().encode(s);

describe('capabilities', () => {
  it('lists capabilities in git 2.39 order', () => {
    const f = { ...DEFAULT_UPLOAD_FEATURES, agent: 'git/2.39.5' };
    expect(uploadPackV0Capabilities(f, 'refs/heads/main').join(' ')).toBe(
      'multi_ack thin-pack side-band side-band-64k ofs-delta shallow deepen-since deepen-not deepen-relative no-progress include-tag multi_ack_detailed no-done symref=HEAD:refs/heads/main filter object-format=sha1 agent=git/2.39.5',
    );
    expect(uploadPackV0Capabilities({ ...f, filter: false, allowReachableSha1InWant: true }, null)).toContain('allow-reachable-sha1-in-want');
    expect(uploadPackV2Capabilities(f)).toEqual(['agent=git/2.39.5', 'ls-refs=unborn', 'fetch=shallow wait-for-done filter', 'server-option', 'object-format=sha1', 'object-info']);
    expect(receivePackCapabilities({ ...DEFAULT_RECEIVE_FEATURES, agent: 'x', atomic: false })).toEqual(['report-status', 'report-status-v2', 'delete-refs', 'side-band-64k', 'quiet', 'ofs-delta', 'push-options', 'object-format=sha1', 'agent=x']);
  });

  it('parses capability lists, skipping empty tokens', () => {
    const c = parseCapabilities(' report-status-v2  agent=git/2.39.5 object-format=sha1');
    expect(c.list).toEqual(['report-status-v2', 'agent=git/2.39.5', 'object-format=sha1']);
    expect([c.has('report-status-v2'), c.has('agent'), c.value('agent')]).toEqual([true, false, 'git/2.39.5']);
    expect(() => parseCapabilities(Array(100).fill('x').join(' '))).toThrow(ProtocolError);
    expect(() => checkObjectFormat(parseCapabilities('object-format=sha256'))).toThrow(/mismatched object format/);
  });

  it('text lines: one LF stripped, strict UTF-8, no NUL', () => {
    expect(pktText(enc('done\n'))).toBe('done');
    expect(pktText(enc('done\n\n'))).toBe('done\n');
    expect(pktText(enc('deepen 1'))).toBe('deepen 1');
    expect(() => pktText(Uint8Array.of(0xff))).toThrow(ProtocolError);
    expect(() => pktText(enc('a\0b'))).toThrow(ProtocolError);
  });

  it('ids, name order and the Git-Protocol header', () => {
    expect([isObjectId('a'.repeat(40)), isObjectId('A'.repeat(40)), isObjectId('a'.repeat(41))]).toEqual([true, false, false]);
    expect(compareNames('refs/heads/\u{1F600}', 'refs/heads/\uFFFF')).toBeGreaterThan(0);
    expect(['b', 'a/b', 'a', 'a-b'].sort(compareNames)).toEqual(['a', 'a-b', 'a/b', 'b']);
    // git's services take the highest version=0|1|2 of the list.
    const asked = [null, 'version=2', 'x=1:version=2', 'version=1', 'version=1:version=0', 'version=2:version=1', 'version=0:version=2', 'version=3', 'version=x:version=1'];
    expect(asked.map(requestedProtocolVersion)).toEqual([0, 2, 2, 1, 1, 2, 2, 0, 1]);
  });
});
