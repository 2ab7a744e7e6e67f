import { z } from "@hono/zod-openapi";
import { callerOf } from "../auth/principal";
import { database } from "../db/client";
import type { Identity } from "../db/schema";
import { readConfig } from "../env";
import { cursorId, PageQuerySchema, pageSchema } from "../lib/pagination";
import { listIdentities, unlinkIdentity } from "../services/identities";
import { authedRoute, createRouter, errors, jsonResponse, noContent } from "./openapi";

/** What a user sees of their linked accounts: never the provider's tokens. */
const IdentitySchema = z
  .object({
    id: z.string().openapi({ example: "idn_01jd3k5v8m0000000000000000" }),
    provider: z.string().openapi({ example: "github" }),
    login: z.string().nullable().openapi({ description: "The account's handle at the provider." }),
    email: z.string().nullable().openapi({ description: "The account's verified e-mail at the provider." }),
    createdAt: z.iso.datetime().openapi({ description: "When the account was linked." }),
    updatedAt: z.iso.datetime().openapi({ description: "Last sign-in with it (or token refresh)." }),
  })
  .openapi("Identity");

const identityView = (i: Identity): z.infer<typeof IdentitySchema> => ({
  id: i.id,
  provider: i.provider,
  login: i.login,
  email: i.email,
  createdAt: i.createdAt.toISOString(),
  updatedAt: i.updatedAt.toISOString(),
});

const IdParams = z.object({
  id: z.string().max(64).openapi({ param: { name: "id", in: "path" }, example: "idn_01jd3k5v8m0000000000000000" }),
});

export const identityRoutes = createRouter()
  .openapi(
    authedRoute("user.read", {
      method: "get",
      path: "/api/v1/me/identities",
      tags: ["me"],
      summary: "Your linked sign-in accounts (GitHub, GitLab, …), newest first",
      request: { query: PageQuerySchema },
      responses: { 200: jsonResponse(pageSchema(IdentitySchema, "IdentityPage"), "A page of identities."), 400: errors[400] },
    }),
    async (c) => {
      const { limit, cursor } = c.req.valid("query");
      const page = await listIdentities(database(c.env.DB), callerOf(c).user.id, { limit, after: cursorId(cursor) });
      return c.json({ items: page.items.map(identityView), nextCursor: page.nextCursor }, 200);
    },
  )
  .openapi(
    authedRoute("user.update", {
      method: "delete",
      path: "/api/v1/me/identities/{id}",
      tags: ["me"],
      summary: "Unlink a sign-in account",
      description:
        "Refused (409 `last_sign_in_method`) when it would leave you no way to sign in: another linked account at a " +
        "configured provider is needed, unless the development sign-in is enabled.",
      request: { params: IdParams },
      responses: { 204: noContent, 400: errors[400], 404: errors[404], 409: errors[409] },
    }),
    async (c) => {
      const config = readConfig(c.env);
      await unlinkIdentity(database(c.env.DB), callerOf(c), c.req.valid("param").id, {
        devLogin: config.devLogin,
        providers: config.providers.map((p) => p.id),
      });
      return c.body(null, 204);
    },
  );
