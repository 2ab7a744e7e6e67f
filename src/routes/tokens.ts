import { z } from "@hono/zod-openapi";
import { callerOf } from "../auth/principal";
import { ScopeSchema } from "../auth/scopes";
import { database } from "../db/client";
import type { PersonalAccessToken } from "../db/schema";
import { mapPage, pageArgs, PageQuerySchema, pageSchema } from "../lib/pagination";
import {
  createToken,
  deleteToken,
  getToken,
  listTokens,
  MAX_TOKEN_LIFETIME_MS,
  regenerateToken,
  updateToken,
  type IssuedToken,
} from "../services/tokens";
import { authedRoute, createRouter, errors, jsonBody, jsonResponse, noContent } from "./openapi";

const TokenSchema = z
  .object({
    id: z.string().openapi({ example: "tok_01jd3k5v8m0000000000000000" }),
    name: z.string(),
    description: z.string().nullable(),
    scopes: z.array(ScopeSchema),
    expiresAt: z.iso.datetime(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
    lastUsedAt: z.iso.datetime().nullable().openapi({ description: "Recorded to the minute." }),
    ssoOrganizationId: z.string().nullable().openapi({
      description:
        "The organization whose single sign-on the credential that issued this secret (created or regenerated it) " +
        "came through. An organization that requires single sign-on accepts only tokens issued so; null for others.",
    }),
  })
  .openapi("Token");

const IssuedTokenSchema = TokenSchema.extend({
  token: z.string().openapi({
    description: "The secret. Shown only in this response; store it now.",
    example: "edp_…",
  }),
}).openapi("IssuedToken");

const expiry = z.iso
  .datetime({ offset: true })
  .refine((s) => Date.parse(s) > Date.now(), "Must be in the future.")
  .refine((s) => Date.parse(s) <= Date.now() + MAX_TOKEN_LIFETIME_MS, "Must be at most one year from now.")
  .openapi({ description: "When the token stops working; at most one year out.", example: "2027-01-31T00:00:00Z" });

const name = z.string().trim().min(1).max(100);
const description = z.string().trim().max(500).nullable();
const scopes = z
  .array(ScopeSchema)
  .min(1)
  .max(20)
  .refine((s) => new Set(s).size === s.length, "Scopes must not repeat.");

const NewTokenSchema = z
  .strictObject({ name, description: description.optional(), scopes, expiresAt: expiry })
  .openapi("NewToken");

const TokenChangesSchema = z
  .strictObject({ name: name.optional(), description: description.optional(), scopes: scopes.optional() })
  .openapi("TokenChanges");

const RegenerateSchema = z
  .strictObject({ expiresAt: expiry.optional() })
  .openapi("RegenerateToken", { description: "Without `expiresAt`, the token keeps its lifetime, from now." });

const TokenIdParams = z.object({ id: z.string().max(64) });

const tokenView = (t: PersonalAccessToken): z.infer<typeof TokenSchema> => ({
  id: t.id,
  name: t.name,
  description: t.description,
  scopes: t.scopes as z.infer<typeof ScopeSchema>[],
  expiresAt: t.expiresAt.toISOString(),
  createdAt: t.createdAt.toISOString(),
  updatedAt: t.updatedAt.toISOString(),
  lastUsedAt: t.lastUsedAt?.toISOString() ?? null,
  ssoOrganizationId: t.ssoOrgId,
});

const issuedView = ({ token, secret }: IssuedToken) => ({ ...tokenView(token), token: secret });

export const tokenRoutes = createRouter()
  .openapi(
    authedRoute("token.write", {
      method: "post",
      path: "/api/v1/tokens",
      tags: ["tokens"],
      summary: "Create a personal access token",
      description: "A token can grant only scopes its creator holds.",
      request: { body: jsonBody(NewTokenSchema) },
      responses: {
        201: jsonResponse(IssuedTokenSchema, "Created; the secret is in `token`."),
        400: errors[400],
        422: errors[422],
      },
    }),
    async (c) => {
      const input = c.req.valid("json");
      const issued = await createToken(database(c.env.DB), callerOf(c), {
        ...input,
        expiresAt: new Date(input.expiresAt),
      });
      return c.json(issuedView(issued), 201);
    },
  )
  .openapi(
    authedRoute("token.read", {
      method: "get",
      path: "/api/v1/tokens",
      tags: ["tokens"],
      summary: "List your tokens (never their secrets)",
      request: { query: PageQuerySchema },
      responses: { 200: jsonResponse(pageSchema(TokenSchema, "TokenPage"), "A page of tokens."), 400: errors[400] },
    }),
    async (c) => {
      const page = await listTokens(database(c.env.DB), callerOf(c).user.id, pageArgs(c.req.valid("query")));
      return c.json(mapPage(page, tokenView), 200);
    },
  )
  .openapi(
    authedRoute("token.read", {
      method: "get",
      path: "/api/v1/tokens/{id}",
      tags: ["tokens"],
      summary: "Get one of your tokens",
      request: { params: TokenIdParams },
      responses: { 200: jsonResponse(TokenSchema, "The token."), 404: errors[404] },
    }),
    async (c) => {
      const token = await getToken(database(c.env.DB), callerOf(c).user.id, c.req.valid("param").id);
      return c.json(tokenView(token), 200);
    },
  )
  .openapi(
    authedRoute("token.write", {
      method: "patch",
      path: "/api/v1/tokens/{id}",
      tags: ["tokens"],
      summary: "Rename, describe or re-scope a token",
      request: { params: TokenIdParams, body: jsonBody(TokenChangesSchema) },
      responses: { 200: jsonResponse(TokenSchema, "Updated."), 400: errors[400], 404: errors[404] },
    }),
    async (c) => {
      const token = await updateToken(database(c.env.DB), callerOf(c), c.req.valid("param").id, c.req.valid("json"));
      return c.json(tokenView(token), 200);
    },
  )
  .openapi(
    authedRoute("token.write", {
      method: "post",
      path: "/api/v1/tokens/{id}/regenerate",
      tags: ["tokens"],
      summary: "New secret for a token; the old one stops working at once",
      request: {
        params: TokenIdParams,
        body: { required: false, content: { "application/json": { schema: RegenerateSchema } } },
      },
      responses: { 200: jsonResponse(IssuedTokenSchema, "Regenerated."), 400: errors[400], 404: errors[404] },
    }),
    async (c) => {
      const { expiresAt } = c.req.valid("json");
      const issued = await regenerateToken(
        database(c.env.DB),
        callerOf(c),
        c.req.valid("param").id,
        expiresAt ? new Date(expiresAt) : undefined,
      );
      return c.json(issuedView(issued), 200);
    },
  )
  .openapi(
    authedRoute("token.write", {
      method: "delete",
      path: "/api/v1/tokens/{id}",
      tags: ["tokens"],
      summary: "Revoke a token at once",
      request: { params: TokenIdParams },
      responses: { 204: noContent, 404: errors[404] },
    }),
    async (c) => {
      await deleteToken(database(c.env.DB), callerOf(c), c.req.valid("param").id);
      return c.body(null, 204);
    },
  );
