// A caller that declares a body bigger than anything the hub reads, on the
// fossil route and the API, gets its refusal at once: the Worker used to read
// (drain) an unread body up to 128 MiB before answering, so a caller that
// declared 1 GB and sent a few bytes waited until it hung up. Bodies a real
// client sends whole are still answered after reading them (fossil-variety's
// 32 MiB file refusal, the git routes' tests).
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiOk } from './hub-client.js';
import { startHub, type Hub } from './hub-server.js';

let hub: Hub;

beforeAll(async () => {
  hub = await startHub();
  await apiOk(hub, 'POST', '/repos', { name: 'fsl', kind: 'fossil', public: true });
}, 120_000);

afterAll(async () => {
  await hub?.stop();
});

/**
 * POSTs `sent` bytes under a Content-Length of `declared`, then sends nothing
 * more and keeps the connection open; resolves with what the hub answered and
 * how long it took (the answer as far as it came when the hub closed, or
 * 'no answer' after `waitMs`).
 */
function declare(path: string, contentType: string, declared: number, sent: number, waitMs = 20_000): Promise<{ answer: string; ms: number }> {
  const { port } = new URL(hub.url);
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = connect(Number(port), '127.0.0.1');
    let answer = '';
    const done = (a: string) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ answer: a, ms: Date.now() - started });
    };
    const timer = setTimeout(() => done(answer || 'no answer'), waitMs);
    socket.on('connect', () => {
      socket.write(`POST ${path} HTTP/1.1\r\nHost: hub\r\nContent-Type: ${contentType}\r\nContent-Length: ${declared}\r\n\r\n`);
      socket.write(Buffer.alloc(sent, 120));
    });
    socket.on('data', (d) => {
      answer += d.toString('latin1');
      // The whole answer is in once its Content-Length worth of body arrived.
      const [head, body] = answer.split('\r\n\r\n');
      const length = /content-length: (\d+)/i.exec(head ?? '');
      if (body !== undefined && length && body.length >= Number(length[1])) done(answer);
    });
    socket.on('error', () => done(answer || 'reset'));
    socket.on('close', () => done(answer || 'closed'));
  });
}

describe('bodies declared larger than the hub reads', () => {
  it('a fossil message declared at 1 GB gets its error card at once, and the next sync is served', async () => {
    const { answer, ms } = await declare('/fsl', 'application/x-fossil', 1_000_000_000, 100);
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
    expect(answer).toContain('error message\\stoo\\slarge:\\s1000000000\\sbytes');
    expect(ms).toBeLessThan(5000);
    const res = await fetch(`${hub.url}/fsl`, { method: 'POST', headers: { 'content-type': 'application/x-fossil-uncompressed' }, body: 'pull 0 0\n' });
    expect(res.status).toBe(200);
    expect(await res.text()).not.toContain('too\\slarge');
  });

  it('an API body declared at 1 GB gets 413 at once', async () => {
    const { answer, ms } = await declare('/api/repos', 'application/json', 1_000_000_000, 100);
    expect(answer).toMatch(/^HTTP\/1\.1 413/);
    expect(ms).toBeLessThan(5000);
  });

  it('a fossil message over the push cap whose body stops coming is answered once it has been idle 5 s', async () => {
    // 110 MB: over the 100 MB cap, under what the Worker drains; 1 MB sent, then silence.
    const { answer, ms } = await declare('/fsl', 'application/x-fossil', 110_000_000, 1_000_000);
    expect(answer).toContain('error message\\stoo\\slarge:\\s110000000\\sbytes');
    expect(ms).toBeGreaterThanOrEqual(4000);
    expect(ms).toBeLessThan(15_000);
  });
});
