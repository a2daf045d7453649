/**
 * Typed errors across Durable Object RPC. A HubError thrown by the DO is
 * returned as data instead: RPC would rebuild a thrown error from its message
 * only (dropping `code` and `data`), and workerd logs every thrown RPC error
 * as uncaught, which bad client input is not. Other errors (bugs) still throw.
 */
import { HubError } from '../../shared/core/errors.js';
import { storageErrorFromCode } from '../../shared/storage/errors.js';

/** A HubError as plain data. */
export interface RpcErrorData {
  code: string;
  message: string;
  data: Record<string, string | number | boolean | null>;
}

/** What a DO RPC method returns: its value, or the typed error it raised. */
export type RpcResult<T> = { ok: true; value: T } | { ok: false; error: RpcErrorData };

/** Runs `fn` in the DO, turning a HubError into an error result. */
export function capture<T>(fn: () => T): RpcResult<T> {
  try {
    return { ok: true, value: fn() };
  } catch (e) {
    if (!(e instanceof HubError)) throw e;
    return { ok: false, error: { code: e.code, message: e.message, data: e.data as RpcErrorData['data'] } };
  }
}

/** On the caller's side: the value, or the typed error rebuilt and thrown. */
export async function unwrap<T>(result: Promise<RpcResult<T>>): Promise<T> {
  const r = await result;
  if (r.ok) return r.value;
  throw storageErrorFromCode(r.error.code, r.error.message, r.error.data);
}
