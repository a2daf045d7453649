/** Pure-JS zlib on fflate (the default; runtimes inject native zlib). PLACEHOLDER: the pack helper completes inflatePrefix/createInflater. */
import { zlibSync, unzlibSync, Zlib as FZlib } from 'fflate';
import { ZlibError } from './errors.js';
import type { Zlib } from './primitives.js';

export const pureZlib: Zlib = {
  deflate: (data, level = 6) => zlibSync(data, { level: level as 6 }),
  inflate(data, maxSize = Infinity) {
    let out: Uint8Array;
    try {
      out = unzlibSync(data);
    } catch (e) {
      throw new ZlibError('zlib-damaged', `damaged zlib stream: ${(e as Error).message}`);
    }
    if (out.length > maxSize) throw new ZlibError('zlib-too-large', `inflated past ${maxSize} bytes`);
    return out;
  },
  inflatePrefix() {
    throw new Error('not implemented yet');
  },
  createInflater() {
    throw new Error('not implemented yet');
  },
  createDeflater(level = 6) {
    const out: Uint8Array[] = [];
    const d = new FZlib({ level: level as 6 }, (chunk) => out.push(chunk));
    return {
      push(chunk, final) {
        d.push(chunk, final);
        return out.splice(0);
      },
    };
  },
};
