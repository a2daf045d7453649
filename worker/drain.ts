/**
 * Reads what is left of a request body, at most `limit` bytes, then cancels
 * the rest. A body left unread broke the next request on wrangler dev's
 * connection to workerd (a hang or a 503), so refusals and relays drain first.
 * A body that stops coming for `idleMs` is cancelled too: a caller that
 * declared more than it sends would otherwise hold the answer until it hangs up.
 */
export async function drainBody(body: ReadableStream<Uint8Array>, limit: number, idleMs = DRAIN_IDLE_MS): Promise<void> {
  const reader = body.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const idle = () => new Promise<null>((r) => (timer = setTimeout(() => r(null), idleMs)));
  try {
    for (let n = 0; n <= limit; ) {
      const r = await Promise.race([reader.read(), idle()]);
      clearTimeout(timer);
      if (r === null) break;
      if (r.done) return;
      n += r.value.length;
    }
    await reader.cancel();
  } catch {
    // the client went away: nothing left to drain
  } finally {
    clearTimeout(timer);
  }
}

/** How long a drained body may send nothing before it is cancelled. */
export const DRAIN_IDLE_MS = 5000;
