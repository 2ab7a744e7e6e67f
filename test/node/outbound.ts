import { Headers, Response, type Request } from "miniflare";
import { FAKE_HOSTS } from "../fixtures.ts";

/**
 * The Worker's (and the tests') outbound `fetch` during tests, run in Node by miniflare:
 * requests to the providers' real hosts go to the local fake provider server, requests to the
 * local OpenID Connect providers go through, and anything else is refused. Nothing leaves the
 * machine.
 */
export function outboundService(servers: { fakeProviders: string; oidcIssuer: string; ssoIssuer: string }) {
  const passThrough = new Set([servers.oidcIssuer, servers.ssoIssuer, servers.fakeProviders].map((url) => new URL(url).origin));
  return async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    let target: string;
    if (url.protocol === "https:" && FAKE_HOSTS[url.host]) target = `${servers.fakeProviders}/${url.host}${url.pathname}${url.search}`;
    else if (passThrough.has(url.origin)) target = url.href;
    else return new Response(`Outbound request to ${url.origin} refused in tests.`, { status: 502 });

    const headers = new globalThis.Headers();
    request.headers.forEach((value, name) => {
      if (!["host", "content-length", "accept-encoding"].includes(name)) headers.append(name, value);
    });
    const hasBody = !["GET", "HEAD"].includes(request.method);
    const answer = await fetch(target, {
      method: request.method,
      headers,
      body: hasBody ? await request.arrayBuffer() : undefined,
      redirect: "manual",
    });
    const back = new Headers();
    answer.headers.forEach((value, name) => {
      if (!["set-cookie", "content-length", "content-encoding", "transfer-encoding"].includes(name)) back.append(name, value);
    });
    for (const cookie of answer.headers.getSetCookie()) back.append("set-cookie", cookie);
    return new Response(await answer.arrayBuffer(), { status: answer.status, headers: back });
  };
}
