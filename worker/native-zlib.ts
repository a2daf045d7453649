/** PLACEHOLDER until the pack helper writes it: node:zlib. */
import { pureZlib } from '../shared/core/zlib.js';
import type { Zlib } from '../shared/core/primitives.js';

export const nativeZlib: Zlib = { ...pureZlib };
