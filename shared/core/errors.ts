/**
 * Typed errors. Every error the library throws for bad input is a HubError with
 * a stable `code`, so each protocol maps it to its own reply in one place
 * (git: ERR pkt-line / `ng REF reason`; fossil: `error` card; HTTP: 4xx).
 */
export class HubError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly data: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Input ended early, was longer than a limit, or was otherwise malformed as bytes. */
export class StreamError extends HubError {}
/** A zlib stream was damaged, truncated or inflated past its bound. */
export class ZlibError extends HubError {}
