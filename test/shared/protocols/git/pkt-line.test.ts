import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromBytes } from '../../../../shared/core/stream.js';
import {
  PKT_DATA_MAX,
  PktLineError,
  bytesToPktLines,
  decodePkt,
  encodePkt,
  encodePkts,
  pktLineBatches,
  pktLineText,
  type Pkt,
} from '../../../../shared/protocols/git/pkt-line.js';
import {
  SIDEBAND_64K_MAX,
  bytesToSideband,
  decodeSideband,
  encodeSideband,
  sidebandToBands,
} from '../../../../shared/protocols/git/sideband.js';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const codeOf = async (f: () => unknown) => {
  try {
    await f();
  } catch (e) {
    expect(e).toBeInstanceOf(PktLineError);
    return (e as PktLineError).code;
  }
  return 'no-error';
};
async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const pktArb: fc.Arbitrary<Pkt> = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((payload) => ({ kind: 'data' as const, payload })),
  fc.constant({ kind: 'flush' as const }),
  fc.constant({ kind: 'delim' as const }),
  fc.constant({ kind: 'response-end' as const }),
);

describe('pkt-line', () => {
  it('encodes the spec examples byte for byte', () => {
    expect(dec(encodePkt('a\n'))).toBe('0006a\n');
    expect(dec(encodePkt(''))).toBe('0004');
    expect(dec(encodePkts([{ kind: 'flush' }, { kind: 'delim' }, { kind: 'response-end' }]))).toBe('000000010002');
    expect(dec(encodePkt('# service=git-upload-pack\n'))).toBe('001e# service=git-upload-pack\n');
    expect(encodePkt(new Uint8Array(PKT_DATA_MAX)).subarray(0, 4)).toEqual(enc('fff0'));
  });

  it('decodes with exact consumed counts and asks for exactly the missing bytes', () => {
    const b = enc('0009hello0000rest');
    expect(decodePkt(b)).toMatchObject({ kind: 'data', consumed: 9 });
    expect(dec((decodePkt(b) as { payload: Uint8Array }).payload)).toBe('hello');
    expect(decodePkt(b, 9)).toEqual({ kind: 'flush', consumed: 4 });
    expect(decodePkt(enc('00'))).toEqual({ kind: 'need', bytes: 2 });
    expect(decodePkt(enc('0009hel'))).toEqual({ kind: 'need', bytes: 2 });
    expect(decodePkt(enc('0001'))).toEqual({ kind: 'delim', consumed: 4 });
    expect(decodePkt(enc('0002'))).toEqual({ kind: 'response-end', consumed: 4 });
    expect(decodePkt(enc('000A1234567'))).toMatchObject({ kind: 'data', consumed: 10 }); // uppercase hex tolerated
  });

  it('rejects bad hex, 0003, lengths past 65520 and oversized payloads', async () => {
    expect(await codeOf(() => decodePkt(enc('00g1')))).toBe('pkt-bad-length');
    expect(await codeOf(() => decodePkt(enc('0003')))).toBe('pkt-bad-length');
    expect(await codeOf(() => decodePkt(enc('fff1')))).toBe('pkt-too-long');
    expect(await codeOf(() => decodePkt(enc('-001')))).toBe('pkt-bad-length');
    expect(await codeOf(() => encodePkt(new Uint8Array(PKT_DATA_MAX + 1)))).toBe('pkt-too-long');
    expect(await codeOf(() => all(bytesToPktLines(fromBytes(enc('0009hel')))))).toBe('pkt-truncated');
    expect(await codeOf(() => all(bytesToPktLines(fromBytes(enc('00')))))).toBe('pkt-truncated');
  });

  it('round-trips any packet sequence through the stream adapter, any chunking', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(pktArb, { maxLength: 20 }), fc.integer({ min: 1, max: 50 }), async (pkts, chunk) => {
        const bytes = encodePkts(pkts);
        expect(await all(bytesToPktLines(fromBytes(bytes, chunk)))).toEqual(pkts);
        // The pure decoder agrees.
        const seen: Pkt[] = [];
        for (let at = 0; at < bytes.length; ) {
          const s = decodePkt(bytes, at);
          if (s.kind === 'need') throw new Error('unexpected need');
          const { consumed, ...p } = s;
          seen.push(p as Pkt);
          at += consumed;
        }
        expect(seen).toEqual(pkts);
      }),
      { numRuns: 200 },
    );
  });

  it('reads the same packets in batches, any chunking, and fails as the packet reader does', async () => {
    // Payloads are views valid until the next batch: copied as each batch comes.
    const batched = async (bytes: Uint8Array, chunk: number) => {
      const out: Pkt[] = [];
      for await (const batch of pktLineBatches(fromBytes(bytes, chunk))) {
        for (const p of batch) out.push(p.kind === 'data' ? { kind: 'data', payload: p.payload.slice() } : p);
      }
      return out;
    };
    await fc.assert(
      fc.asyncProperty(fc.array(pktArb, { maxLength: 20 }), fc.integer({ min: 1, max: 50 }), async (pkts, chunk) => {
        expect(await batched(encodePkts(pkts), chunk)).toEqual(pkts);
      }),
      { numRuns: 200 },
    );
    expect(await codeOf(() => batched(enc('0009hel'), 3))).toBe('pkt-truncated');
    expect(await codeOf(() => batched(enc('000ahello00'), 4))).toBe('pkt-truncated');
    // The packets before a bad header are yielded first, then the error.
    const seen: string[] = [];
    const code = await codeOf(async () => {
      for await (const batch of pktLineBatches(fromBytes(enc('0009hello00000003'), 64))) for (const p of batch) seen.push(p.kind);
    });
    expect(code).toBe('pkt-bad-length');
    expect(seen).toEqual(['data', 'flush']);
  });

  it('text lines lose exactly one LF and must be UTF-8', async () => {
    expect(pktLineText(enc('want x\n'))).toBe('want x');
    expect(pktLineText(enc('a\n\n'))).toBe('a\n');
    expect(pktLineText(enc('deepen 1'))).toBe('deepen 1');
    expect(await codeOf(() => pktLineText(Uint8Array.of(0xff, 0x0a)))).toBe('pkt-bad-utf8');
  });
});

describe('side-band', () => {
  it('splits data into packets of at most the band size, with the band byte first', () => {
    const data = new Uint8Array(SIDEBAND_64K_MAX * 2 + 5).map((_, i) => i);
    const pkts = encodeSideband(1, data);
    expect(pkts.map((p) => p.length)).toEqual([65520, 65520, 10]);
    expect(pkts[2].subarray(0, 5)).toEqual(Uint8Array.of(0x30, 0x30, 0x30, 0x61, 1));
    expect(encodeSideband(2, 'x'.repeat(2000), 995).length).toBe(3);
    expect(encodeSideband(1, new Uint8Array(0))).toEqual([]);
  });

  it('round-trips streams through multiplexing and demultiplexing', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 3000 }), { maxLength: 6 }), fc.integer({ min: 1, max: 1000 }), async (chunks, max) => {
        const wire = await all(bytesToSideband(fromBytes(chunks), 1, max));
        const bands = await all(sidebandToBands(bytesToPktLines(fromBytes(wire))));
        expect(bands.every((b) => b.band === 1 && b.data.length <= max)).toBe(true);
        const joined = bands.flatMap((b) => [...b.data]);
        expect(joined).toEqual(chunks.flatMap((c) => [...c]));
      }),
      { numRuns: 100 },
    );
  });

  it('rejects unknown bands, empty packets, stray delims and a missing flush', async () => {
    expect(await codeOf(() => decodeSideband(Uint8Array.of(4, 1)))).toBe('sideband-bad-band');
    expect(await codeOf(() => decodeSideband(new Uint8Array(0)))).toBe('sideband-empty');
    expect(decodeSideband(Uint8Array.of(3, 0x41))).toEqual({ band: 3, data: Uint8Array.of(0x41) });
    expect(await codeOf(() => all(sidebandToBands(bytesToPktLines(fromBytes(enc('0001'))))))).toBe('sideband-unexpected-pkt');
    expect(await codeOf(() => all(sidebandToBands(bytesToPktLines(fromBytes(enc('0006\x01a'))))))).toBe('pkt-truncated');
  });
});
