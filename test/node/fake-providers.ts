import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { CLIENTS, FAKE_HOSTS, ORIGIN, type FakeAccount, type FakeProvider } from "../fixtures.ts";

/**
 * One local HTTP server speaking the OAuth endpoints and user APIs of GitHub (and GitHub
 * Enterprise Server), GitLab, Bitbucket Cloud and Google, as their documentation describes
 * them, for the Worker's sign-in tests. Requests arrive as `/<original host><path>` (see
 * outbound.ts). Like the real ones it checks client credentials, redirect URIs, PKCE, single
 * use of codes and token validity; its quirks are the providers' (GitHub's token endpoint
 * answers errors with 200, Bitbucket's e-mails are paginated, and so on).
 */

interface Grant {
  provider: FakeProvider;
  account: FakeAccount;
  redirectUri: string;
  codeChallenge: string | null;
}

interface Token {
  provider: FakeProvider;
  account: FakeAccount;
  expiresAt: number | null;
}

const AUTHORIZE_PATHS: Record<FakeProvider, RegExp> = {
  github: /^\/login\/oauth\/authorize$/,
  gitlab: /^\/oauth\/authorize$/,
  bitbucket: /^\/site\/oauth2\/authorize$/,
  google: /^\/o\/oauth2\/v2\/auth$/,
};
const TOKEN_PATHS: Record<FakeProvider, RegExp> = {
  github: /^\/login\/oauth\/access_token$/,
  gitlab: /^\/oauth\/token$/,
  bitbucket: /^\/site\/oauth2\/access_token$/,
  google: /^\/token$/,
};
/** Tokens that expire (GitHub OAuth app tokens do not). */
const EXPIRES_IN: Record<FakeProvider, number | null> = { github: null, gitlab: 7200, bitbucket: 7200, google: 3599 };

export async function startFakeProviders(): Promise<{ url: string; close(): Promise<void> }> {
  const codes = new Map<string, Grant>();
  const accessTokens = new Map<string, Token>();
  const refreshTokens = new Map<string, Token>();

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => send(res, 500, { error: String(error) }));
  });

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? "/", "http://fake");
    const [, host = "", ...rest] = url.pathname.split("/");
    const provider = FAKE_HOSTS[host];
    const path = `/${rest.join("/")}`;
    if (!provider) return send(res, 404, { error: `unknown host ${host}` });

    if (req.method === "GET" && AUTHORIZE_PATHS[provider].test(path)) return authorize(provider, url.searchParams, res);
    if (req.method === "POST" && TOKEN_PATHS[provider].test(path)) return token(provider, req, await form(req), res);
    if (req.method === "GET") return userApi(provider, path, req, res);
    return send(res, 404, { error: "not found" });
  }

  /** The provider's consent page, decided by the test: `fake_account` says who signs in. */
  function authorize(provider: FakeProvider, params: URLSearchParams, res: ServerResponse) {
    const redirectUri = params.get("redirect_uri") ?? "";
    if (params.get("client_id") !== CLIENTS[provider].id) return send(res, 400, { error: "unknown client" });
    if (redirectUri !== `${ORIGIN}/auth/${provider}/callback`) return send(res, 400, { error: "redirect_uri mismatch" });
    if (params.get("response_type") !== "code") return send(res, 400, { error: "unsupported_response_type" });
    const challenge = params.get("code_challenge");
    if (challenge && params.get("code_challenge_method") !== "S256") return send(res, 400, { error: "only S256" });
    const account = JSON.parse(Buffer.from(params.get("fake_account") ?? "", "base64url").toString()) as FakeAccount;
    const code = randomBytes(16).toString("hex");
    codes.set(code, { provider, account, redirectUri, codeChallenge: challenge });
    const back = new URL(redirectUri);
    back.searchParams.set("code", code);
    back.searchParams.set("state", params.get("state") ?? "");
    res.writeHead(302, { location: back.href }).end();
  }

  function token(provider: FakeProvider, req: IncomingMessage, body: URLSearchParams, res: ServerResponse) {
    // GitHub reports token errors with 200 and an `error` field; the others with 400/401.
    const fail = (status: number, error: string) =>
      send(res, provider === "github" ? 200 : status, { error, error_description: `fake ${provider}: ${error}` });
    if (!clientAuthenticated(provider, req, body)) return fail(401, "invalid_client");
    let account: FakeAccount;
    if (body.get("grant_type") === "authorization_code") {
      const grant = codes.get(body.get("code") ?? "");
      codes.delete(body.get("code") ?? "");
      if (!grant || grant.provider !== provider) return fail(400, provider === "github" ? "bad_verification_code" : "invalid_grant");
      if (body.get("redirect_uri") !== grant.redirectUri) return fail(400, "invalid_grant");
      if (grant.codeChallenge && s256(body.get("code_verifier") ?? "") !== grant.codeChallenge) return fail(400, "invalid_grant");
      account = grant.account;
    } else if (body.get("grant_type") === "refresh_token") {
      const previous = refreshTokens.get(body.get("refresh_token") ?? "");
      if (!previous || previous.provider !== provider) return fail(400, "invalid_grant");
      refreshTokens.delete(body.get("refresh_token") ?? ""); // rotated, as GitLab and Bitbucket do
      account = previous.account;
    } else {
      return fail(400, "unsupported_grant_type");
    }
    const expiresIn = EXPIRES_IN[provider];
    const accessToken = `${provider}-at-${randomBytes(12).toString("hex")}`;
    accessTokens.set(accessToken, { provider, account, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : null });
    const answer: Record<string, unknown> = { access_token: accessToken, token_type: "bearer" };
    if (expiresIn) {
      const refreshToken = `${provider}-rt-${randomBytes(12).toString("hex")}`;
      refreshTokens.set(refreshToken, { provider, account, expiresAt: null });
      Object.assign(answer, { expires_in: expiresIn, refresh_token: refreshToken });
    }
    send(res, 200, answer);
  }

  function userApi(provider: FakeProvider, path: string, req: IncomingMessage, res: ServerResponse) {
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1] ?? "";
    const token = accessTokens.get(bearer);
    if (!token || token.provider !== provider || (token.expiresAt !== null && token.expiresAt < Date.now())) {
      return send(res, 401, { message: "Bad credentials" });
    }
    const a = token.account;
    if (a.apiStatus) return send(res, a.apiStatus, { message: "fake failure" });
    const avatar = `https://avatars.example.test/${a.id}.png`;
    const emails = a.email ? [{ email: a.email, primary: true, verified: a.emailVerified }] : [];
    switch (`${provider} ${path.replace(/^\/api\/v3/, "")}`) {
      case "github /user":
        if (req.headers["user-agent"] === undefined) return send(res, 403, { message: "User-Agent required" });
        return send(res, 200, { id: Number(a.id), login: a.login, name: a.name, email: null, avatar_url: avatar });
      case "github /user/emails":
        return send(res, 200, [{ email: `${a.id}+${a.login}@users.noreply.github.com`, primary: false, verified: true, visibility: null }, ...emails].reverse());
      case "gitlab /api/v4/user":
        return send(res, 200, {
          id: Number(a.id),
          username: a.login,
          name: a.name,
          email: a.email,
          avatar_url: avatar,
          confirmed_at: a.emailVerified ? "2024-01-01T00:00:00.000Z" : null,
        });
      case "bitbucket /2.0/user":
        return send(res, 200, { uuid: `{${a.id}}`, username: a.login, display_name: a.name, links: { avatar: { href: avatar } } });
      case "bitbucket /2.0/user/emails":
        return send(res, 200, {
          pagelen: 10,
          page: 1,
          size: emails.length,
          values: emails.map((e) => ({ email: e.email, is_primary: e.primary, is_confirmed: e.verified, type: "email" })),
        });
      case "google /v1/userinfo":
        return send(res, 200, { sub: a.id, email: a.email, email_verified: a.emailVerified, name: a.name, picture: avatar });
      default:
        return send(res, 404, { message: "Not Found" });
    }
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** client_secret_basic, or client_id and client_secret in the body. */
function clientAuthenticated(provider: FakeProvider, req: IncomingMessage, body: URLSearchParams): boolean {
  const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? "")?.[1];
  const [id, secret] = basic
    ? Buffer.from(basic, "base64").toString().split(":")
    : [body.get("client_id"), body.get("client_secret")];
  return id === CLIENTS[provider].id && secret === CLIENTS[provider].secret;
}

const s256 = (verifier: string) => createHash("sha256").update(verifier).digest("base64url");

async function form(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return new URLSearchParams(Buffer.concat(chunks).toString());
}

function send(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}
