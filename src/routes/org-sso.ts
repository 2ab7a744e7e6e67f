import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { oidcProvider } from "../auth/providers/oidc";
import { callerOf, requestMetaOf } from "../auth/principal";
import { database } from "../db/client";
import { SSO_STATES } from "../db/schema";
import { externalUrlProblem, readConfig, requireSealingKeys, type AppEnv } from "../env";
import { NotFound } from "../lib/errors";
import { safeRedirectPath } from "../lib/safe-redirect";
import {
  activateSso,
  assertSameRevision,
  createTestTicket,
  deleteSso,
  getSso,
  joinViaSso,
  markVerified,
  openTestTicket,
  putSso,
  ssoBySlug,
  ssoClient,
  ssoProviderName,
  type OrgSsoView,
} from "../services/org-sso";
import { authedRoute, createRouter, errors, jsonBody, jsonResponse, noContent } from "./openapi";
import { OrgParams } from "./schemas";
import {
  beginSignIn,
  callbackUri,
  callbackResponses,
  CallbackQuery,
  LoginQuery,
  providerResult,
  redirected,
  returningFlow,
  signInWith,
} from "./sign-in";

/**
 * Organization single sign-on: the owners' configuration API under `/api/v1/orgs/{orgId}/sso`
 * and the browser routes under `/auth/sso/{orgSlug}/…` (src/services/org-sso.ts has the rules).
 */

const SsoConfigSchema = z
  .object({
    issuer: z.string().openapi({ example: "https://login.example.com/realms/acme" }),
    clientId: z.string(),
    state: z.enum(SSO_STATES).openapi({
      description: "`inactive` (saved), `verified` (a test sign-in succeeded), `active` (members sign in through it).",
    }),
    callbackUrl: z.string().openapi({
      description: "Register this redirect URI with the identity provider.",
      example: "https://pods.example.com/auth/sso/acme/callback",
    }),
    loginUrl: z.string().openapi({ description: "Where members sign in once it is active." }),
    verifiedAt: z.iso.datetime().nullable(),
    activatedAt: z.iso.datetime().nullable(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .openapi("OrgSso", { description: "An organization's single sign-on configuration. The client secret is never returned." });

const SsoSettingsSchema = z
  .strictObject({
    issuer: z
      .string()
      .max(2000)
      .superRefine((value, ctx) => {
        const problem = externalUrlProblem(value);
        if (problem) ctx.addIssue({ code: "custom", message: `The issuer ${problem}` });
      })
      .openapi({
        description: "The provider's issuer identifier, verbatim; `<issuer>/.well-known/openid-configuration` must answer.",
        example: "https://login.example.com/realms/acme",
      }),
    clientId: z.string().trim().min(1).max(500),
    clientSecret: z.string().min(1).max(2000).openapi({ description: "Stored sealed; never returned." }),
  })
  .openapi("OrgSsoSettings");

const TestRequestSchema = z
  .strictObject({
    returnTo: z.string().max(2000).optional().openapi({ description: "Same-site path to land on after the test; default `/`." }),
  })
  .openapi("OrgSsoTestRequest");

const TestLinkSchema = z
  .object({
    url: z.string().openapi({ description: "Open in a browser: signs in at the provider and returns; nothing else changes." }),
    expiresAt: z.iso.datetime(),
  })
  .openapi("OrgSsoTestLink");

const SlugParams = z.object({
  orgSlug: z.string().min(1).max(40).openapi({ param: { name: "orgSlug", in: "path" }, example: "acme" }),
});

const ssoPath = (slug: string, leaf: "login" | "callback" | "test") => `/auth/sso/${slug}/${leaf}`;

const ssoView = (c: Context<AppEnv>, { org, sso }: OrgSsoView): z.infer<typeof SsoConfigSchema> => ({
  issuer: sso.issuer,
  clientId: sso.clientId,
  state: sso.state,
  callbackUrl: callbackUri(c, ssoPath(org.slug, "callback")),
  loginUrl: callbackUri(c, ssoPath(org.slug, "login")),
  verifiedAt: sso.verifiedAt?.toISOString() ?? null,
  activatedAt: sso.activatedAt?.toISOString() ?? null,
  createdAt: sso.createdAt.toISOString(),
  updatedAt: sso.updatedAt.toISOString(),
});

const keysOf = (c: Context<AppEnv>) => requireSealingKeys(readConfig(c.env));
const noSso = () => new NotFound("Single sign-on");

/** The organization's configuration and its OpenID Connect client, for the browser routes. */
async function slugSso(c: Context<AppEnv>, slug: string) {
  const found = await ssoBySlug(database(c.env.DB), slug);
  if (!found) throw noSso();
  const redirectUri = callbackUri(c, ssoPath(found.slug, "callback"));
  const provider = oidcProvider(await ssoClient(keysOf(c), found.sso), redirectUri);
  return { ...found, name: ssoProviderName(found.orgId), redirectUri, provider };
}

/** What a flow carries (sealed) from its start to the callback. */
type FlowData = { mode: "sign-in"; revision: number } | { mode: "test"; revision: number; by: string };

export const orgSsoRoutes = createRouter()
  .openapi(
    authedRoute("org.sso.read", {
      method: "get",
      path: "/api/v1/orgs/{orgId}/sso",
      tags: ["single sign-on"],
      summary: "The organization's single sign-on configuration (never its secret)",
      request: { params: OrgParams },
      responses: { 200: jsonResponse(SsoConfigSchema, "The configuration."), 404: errors[404] },
    }),
    async (c) => c.json(ssoView(c, await getSso(database(c.env.DB), callerOf(c), c.req.valid("param").orgId)), 200),
  )
  .openapi(
    authedRoute("org.sso.manage", {
      method: "put",
      path: "/api/v1/orgs/{orgId}/sso",
      tags: ["single sign-on"],
      summary: "Create or replace the single sign-on configuration",
      description:
        "Checks the issuer's discovery document first: 400 `invalid_issuer` when it is missing, malformed or names " +
        "another issuer, 502 `issuer_unreachable` when the issuer cannot be reached. The saved configuration is " +
        "`inactive`: test it (`POST …/sso/test`), then activate it. Refused while the organization requires SSO " +
        "(409 `sso_required_on`).",
      request: { params: OrgParams, body: jsonBody(SsoSettingsSchema) },
      responses: {
        200: jsonResponse(SsoConfigSchema, "Saved, inactive."),
        400: errors[400],
        404: errors[404],
        409: errors[409],
        502: errors[502],
      },
    }),
    async (c) => {
      const saved = await putSso(database(c.env.DB), keysOf(c), callerOf(c), c.req.valid("param").orgId, c.req.valid("json"));
      return c.json(ssoView(c, saved), 200);
    },
  )
  .openapi(
    authedRoute("org.sso.manage", {
      method: "delete",
      path: "/api/v1/orgs/{orgId}/sso",
      tags: ["single sign-on"],
      summary: "Remove the single sign-on configuration",
      description: "Refused while the organization requires SSO (409 `sso_required_on`). Members keep their memberships.",
      request: { params: OrgParams },
      responses: { 204: noContent, 404: errors[404], 409: errors[409] },
    }),
    async (c) => {
      await deleteSso(database(c.env.DB), callerOf(c), c.req.valid("param").orgId);
      return c.body(null, 204);
    },
  )
  .openapi(
    authedRoute("org.sso.manage", {
      method: "post",
      path: "/api/v1/orgs/{orgId}/sso/test",
      tags: ["single sign-on"],
      summary: "A link that tests the configuration with a sign-in",
      description:
        "Returns a link, good for ten minutes, that runs the sign-in through the provider in verification mode: its " +
        "success marks this configuration `verified` and changes nothing else (no user, membership or session).",
      request: {
        params: OrgParams,
        body: { required: false, content: { "application/json": { schema: TestRequestSchema } } },
      },
      responses: { 200: jsonResponse(TestLinkSchema, "The test link."), 400: errors[400], 404: errors[404] },
    }),
    async (c) => {
      const { returnTo } = TestRequestSchema.parse(c.req.valid("json") ?? {});
      const { org, ticket, expiresAt } = await createTestTicket(
        database(c.env.DB),
        keysOf(c),
        callerOf(c),
        c.req.valid("param").orgId,
        returnTo,
      );
      const url = new URL(callbackUri(c, ssoPath(org.slug, "test")));
      url.searchParams.set("ticket", ticket);
      return c.json({ url: url.href, expiresAt: expiresAt.toISOString() }, 200);
    },
  )
  .openapi(
    authedRoute("org.sso.manage", {
      method: "post",
      path: "/api/v1/orgs/{orgId}/sso/activate",
      tags: ["single sign-on"],
      summary: "Activate a verified configuration: members sign in through it",
      description: "409 `sso_not_verified` until a test sign-in of the current configuration has succeeded.",
      request: { params: OrgParams },
      responses: { 200: jsonResponse(SsoConfigSchema, "Active."), 404: errors[404], 409: errors[409] },
    }),
    async (c) => c.json(ssoView(c, await activateSso(database(c.env.DB), callerOf(c), c.req.valid("param").orgId)), 200),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/auth/sso/{orgSlug}/login",
      tags: ["auth"],
      summary: "Sign in through an organization's single sign-on: redirects to its provider",
      description:
        "Exists only while the organization's single sign-on is active (404 otherwise). Signing in creates the user " +
        "on first use and makes them a member of the organization; signed in already, it links the account to you " +
        "and renews your session as signed in through this organization's SSO.",
      request: { params: SlugParams, query: LoginQuery },
      responses: { 302: redirected, 400: errors[400], 404: errors[404], 409: errors[409], 502: errors[502] },
    }),
    async (c) => {
      const { sso, name, provider } = await slugSso(c, c.req.valid("param").orgSlug);
      if (sso.state !== "active") throw noSso();
      const data: FlowData = { mode: "sign-in", revision: sso.revision };
      return beginSignIn(c, name, provider, c.req.valid("query").returnTo, data);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/auth/sso/{orgSlug}/test",
      tags: ["auth"],
      summary: "A test sign-in through an organization's provider (link from POST …/sso/test)",
      request: { params: SlugParams, query: z.object({ ticket: z.string().max(2000) }) },
      responses: { 302: redirected, 400: errors[400], 404: errors[404], 409: errors[409], 502: errors[502] },
    }),
    async (c) => {
      const { orgId, sso, name, provider } = await slugSso(c, c.req.valid("param").orgSlug);
      const ticket = await openTestTicket(keysOf(c), orgId, c.req.valid("query").ticket);
      assertSameRevision(sso, ticket.revision);
      const data: FlowData = { mode: "test", revision: ticket.revision, by: ticket.by };
      return beginSignIn(c, name, provider, ticket.returnTo ?? undefined, data);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/auth/sso/{orgSlug}/callback",
      tags: ["auth"],
      summary: "Where an organization's provider returns the browser",
      description:
        "Register `https://<host>/auth/sso/<orgSlug>/callback` with the provider. Completes a sign-in (or a test " +
        "sign-in) started in this browser. Refusals as for `/auth/{provider}/callback`, and 404 unless single sign-on " +
        "is active (a test sign-in excepted), 409 `sso_config_changed` when the configuration was replaced meanwhile.",
      request: { params: SlugParams, query: CallbackQuery },
      responses: callbackResponses,
    }),
    async (c) => {
      const { orgId, sso, name, provider, redirectUri } = await slugSso(c, c.req.valid("param").orgSlug);
      let flow;
      try {
        flow = await returningFlow(c, name);
      } catch (error) {
        // Only a test sign-in may come back to a configuration that is not active.
        if (sso.state !== "active") throw noSso();
        throw error;
      }
      const data = flow.data as FlowData | undefined;
      const testing = data?.mode === "test";
      if (!testing && sso.state !== "active") throw noSso();
      assertSameRevision(sso, data?.revision);
      const result = await providerResult(c, provider, redirectUri, flow);
      const db = database(c.env.DB);
      if (data?.mode === "test") {
        await markVerified(db, orgId, data, requestMetaOf(c), result.profile);
        return c.redirect(safeRedirectPath(flow.returnTo), 302);
      }
      return signInWith(c, name, flow, result, {
        ssoOrgId: orgId,
        afterSignIn: (user) => joinViaSso(db, orgId, user, requestMetaOf(c)),
      });
    },
  );
