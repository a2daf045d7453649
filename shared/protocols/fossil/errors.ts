/**
 * Errors of the xfer protocol. Each maps to one reply: the message is the text
 * of fossil's own `error` card (unescaped), so `xfer` writes
 * `error <fossilize(message)>` for any XferError and nothing else.
 */
import { HubError } from '../../core/errors.js';

/**
 * A request the server refuses. Codes: bad-body (framing, compression),
 * bad-card (syntax, arguments), bad-command (unknown card), too-large,
 * login-failed, not-authorized, wrong-project, wrong-hash, bad-artifact.
 */
export class XferError extends HubError {}

/** An XferError whose `message` is the exact (unescaped) text of the error card. */
export function xferError(code: string, text: string, data: Record<string, unknown> = {}): XferError {
  return new XferError(code, text, data);
}
