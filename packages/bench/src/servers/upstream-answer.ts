/** The upstream's answer to a request of `bytes` body bytes: a small JSON document (servers/upstream.ts). */
export function upstreamAnswer(bytes: number): Buffer {
  return Buffer.from(JSON.stringify({ ok: true, status: 'accepted', orderRef: 'UP-7F3A9C21', receivedBytes: bytes, etaMinutes: 35 }));
}

/** The answer to a sealed bench request (407 body bytes), for the crypto limits (e): the size the gateway seals. */
export const UPSTREAM_ANSWER_SAMPLE = upstreamAnswer(407);
