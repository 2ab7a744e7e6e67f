/**
 * A Durable Object's WebSocket upgrade response, re-wrapped: the one a stub returns has
 * immutable headers, and the app's middleware adds headers (request id, security) to every
 * response on its way out.
 */
export function upgradeResponse(fromDurableObject: Response): Response {
  if (fromDurableObject.status !== 101 || !fromDurableObject.webSocket) return fromDurableObject;
  return new Response(null, { status: 101, webSocket: fromDurableObject.webSocket });
}
