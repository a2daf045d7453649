/**
 * Reads what is left of a request body, at most `limit` bytes, then cancels
 * the rest. A body left unread broke the next request on wrangler dev's
 * connection to workerd (a hang or a 503), so refusals and relays drain first.
 */
export async function drainBody(body: ReadableStream<Uint8Array>, limit: number): Promise<void> {
  const reader = body.getReader();
  try {
    for (let n = 0; n <= limit; ) {
      const r = await reader.read();
      if (r.done) return;
      n += r.value.length;
    }
    await reader.cancel();
  } catch {
    // the client went away: nothing left to drain
  }
}
