/**
 * Any git object: parse and serialise by type, and the ids an object refers to
 * (what a connectivity check must find present).
 */
import { GitObjectError } from './errors.js';
import { parseCommit, serialiseCommit, type Commit } from './commit.js';
import type { GitObjectType, ObjectFormat, ObjectId } from './object-id.js';
import { parseTag, serialiseTag, type Tag } from './tag.js';
import { modeObjectType, parseTree, serialiseTree, type Tree } from './tree.js';

/** A blob: bytes with no structure. */
export interface Blob {
  type: 'blob';
  data: Uint8Array;
}

/** A parsed object of any type. */
export type GitObject = Blob | Tree | Commit | Tag;

/** Options for parsing and serialising. */
export interface ObjectOptions {
  format?: ObjectFormat;
  /** Accept tree modes old git wrote (see TreeOptions.legacyModes). */
  legacyModes?: boolean;
  /** Accept unsorted trees and duplicate names (see TreeOptions.anyOrder). */
  anyOrder?: boolean;
}

/** Parse an object's content (without the `<type> <size>\0` header); a GitObjectError if malformed. */
export function parseObject(type: GitObjectType, content: Uint8Array, options: ObjectOptions = {}): GitObject {
  const format = options.format ?? 'sha1';
  switch (type) {
    case 'blob':
      return { type: 'blob', data: content };
    case 'tree':
      return parseTree(content, { format, legacyModes: options.legacyModes, anyOrder: options.anyOrder });
    case 'commit':
      return parseCommit(content, format);
    case 'tag':
      return parseTag(content, format);
    default:
      throw new GitObjectError('bad-object-type', `unknown object type ${JSON.stringify(type)}`);
  }
}

/** Serialise an object's content (byte-exact for a parsed one). */
export function serialiseObject(obj: GitObject, options: ObjectOptions = {}): Uint8Array {
  const format = options.format ?? 'sha1';
  switch (obj.type) {
    case 'blob':
      return obj.data;
    case 'tree':
      return serialiseTree(obj, { format, legacyModes: options.legacyModes });
    case 'commit':
      return serialiseCommit(obj, format);
    case 'tag':
      return serialiseTag(obj, format);
  }
}

/** An id an object points to and the type the pointer says it has. */
export interface Reference {
  id: ObjectId;
  type: GitObjectType;
}

/**
 * The objects this one refers to and must be present with it: a tree's entries
 * (except gitlinks, which name commits in another repository), a commit's tree
 * and parents, a tag's object. Blobs refer to nothing.
 */
export function referencedIds(obj: GitObject): Reference[] {
  switch (obj.type) {
    case 'blob':
      return [];
    case 'tree': {
      const refs: Reference[] = [];
      for (const e of obj.entries) {
        const type = modeObjectType(e.mode);
        if (type !== 'commit') refs.push({ id: e.id, type });
      }
      return refs;
    }
    case 'commit':
      return [{ id: obj.tree, type: 'tree' }, ...obj.parents.map((id): Reference => ({ id, type: 'commit' }))];
    case 'tag':
      return [{ id: obj.object, type: obj.objectType }];
  }
}
