import { and, desc, eq, inArray, lt } from "drizzle-orm";
import type { Caller } from "../auth/principal";
import { providerSettings, signInProvider, type ExternalProfile, type ProviderTokens } from "../auth/providers";
import type { Database } from "../db/client";
import { identities, users, type Identity, type User } from "../db/schema";
import { readConfig, requireSealingKeys } from "../env";
import { ApiError, Conflict, Forbidden, NotFound } from "../lib/errors";
import { newId } from "../lib/ids";
import { toPage, type Page } from "../lib/pagination";
import { seal, SealError, unseal, type SealingKeys } from "../lib/seal";
import { auditInsert } from "./audit";

/** As `PATCH /api/v1/me` allows. */
const MAX_NAME_LENGTH = 100;

/** Who signed in at a provider, with the tokens it issued. */
export interface ProviderSignIn {
  provider: string;
  profile: ExternalProfile;
  tokens: ProviderTokens;
}

/** The request a sign-in happens in, for the audit log. */
export type RequestMeta = Pick<Caller, "requestId" | "ip">;

export interface SignInOutcome {
  user: User;
  identity: Identity;
}

/**
 * The user a provider sign-in stands for.
 *
 * - A known identity signs its user in (refused if blocked), and its tokens and handle are
 *   refreshed. If someone else is signed in, that is a 409: an identity has one user.
 * - An unknown identity with someone signed in (`current`) is linked to them, one per
 *   provider (409 if they have one already).
 * - An unknown identity with nobody signed in creates a user, which needs a verified e-mail
 *   (403 otherwise) that no user has yet (409 otherwise: accounts are never merged by
 *   e-mail, since that would hand an account to whoever controls a provider account with the
 *   same address; the owner signs in and links instead).
 *
 * One batched read decides, one batched write (with its audit rows) applies.
 */
export async function signInWithIdentity(
  db: Database,
  keys: SealingKeys,
  signIn: ProviderSignIn,
  request: RequestMeta,
  current: User | null,
): Promise<SignInOutcome> {
  const { provider, profile, tokens } = signIn;
  const email = profile.email?.toLowerCase() ?? null;
  const thisAccount = and(eq(identities.provider, provider), eq(identities.providerUserId, profile.id));
  // Fixed-shape batch: a look-up whose key is absent (no e-mail, nobody signed in) matches nothing.
  // (No join: D1 batches return rows keyed by column name, where `id` of both tables would collide.)
  const [knownIdentity, knownUser, sameEmail, currentsOwn] = await db.batch([
    db.select().from(identities).where(thisAccount).limit(1),
    db
      .select()
      .from(users)
      .where(inArray(users.id, db.select({ id: identities.userId }).from(identities).where(thisAccount)))
      .limit(1),
    db.select({ id: users.id }).from(users).where(eq(users.email, email ?? "")).limit(1),
    db
      .select({ id: identities.id })
      .from(identities)
      .where(and(eq(identities.userId, current?.id ?? ""), eq(identities.provider, provider)))
      .limit(1),
  ]);
  const now = new Date();
  const seen = { login: profile.login, email, updatedAt: now };

  const existing = knownIdentity[0] && knownUser[0] ? { identity: knownIdentity[0], user: knownUser[0] } : null;
  if (existing) {
    if (current && existing.user.id !== current.id) {
      throw new Conflict(`This ${provider} account is linked to another user.`, "identity_in_use");
    }
    if (existing.user.blocked) throw new Forbidden("This account is blocked.", "account_blocked");
    const sealed = await sealTokens(keys, existing.identity.id, tokens);
    await applyWrites(db, [
      db.update(identities).set({ ...seen, ...sealed }).where(eq(identities.id, existing.identity.id)),
      db.update(users).set({ lastSeenAt: now }).where(eq(users.id, existing.user.id)),
    ]);
    return { user: { ...existing.user, lastSeenAt: now }, identity: { ...existing.identity, ...seen, ...sealed } };
  }

  const id = newId("idn");
  const sealed = await sealTokens(keys, id, tokens);
  const identityFor = (userId: string): Identity => ({
    id,
    userId,
    provider,
    providerUserId: profile.id,
    ...seen,
    ...sealed,
    createdAt: now,
  });
  const linkEntry = {
    action: "identity.link",
    targetType: "identity",
    targetId: id,
    after: { provider, login: profile.login },
  };

  if (current) {
    if (currentsOwn.length > 0) {
      throw new Conflict(`You have linked a ${provider} account already; unlink it first.`, "provider_already_linked");
    }
    const identity = identityFor(current.id);
    await applyWrites(db, [db.insert(identities).values(identity), auditInsert(db, actor(current, request), linkEntry)]);
    return { user: current, identity };
  }

  if (!email || !profile.emailVerified) {
    throw new Forbidden(
      `Your ${provider} account has no verified e-mail address to create an account with.`,
      "verified_email_required",
    );
  }
  if (sameEmail.length > 0) {
    throw new Conflict(
      `An account with this e-mail address exists already. Sign in to it, then link your ${provider} account.`,
      "email_in_use",
    );
  }
  const user: User = {
    id: newId("usr"),
    email,
    name: (profile.name?.trim() || profile.login || email.split("@")[0]!).slice(0, MAX_NAME_LENGTH),
    avatarUrl: profile.avatarUrl,
    createdAt: now,
    lastSeenAt: now,
    blocked: false,
    platformAdmin: false,
  };
  const identity = identityFor(user.id);
  await applyWrites(db, [
    db.insert(users).values(user),
    db.insert(identities).values(identity),
    auditInsert(db, actor(user, request), {
      action: "user.create",
      targetType: "user",
      targetId: user.id,
      after: { email, provider },
    }),
    auditInsert(db, actor(user, request), linkEntry),
  ]);
  return { user, identity };
}

/** A user's identities, newest first. */
export async function listIdentities(
  db: Database,
  userId: string,
  page: { limit: number; after: string | undefined },
): Promise<Page<Identity>> {
  const rows = await db
    .select()
    .from(identities)
    .where(and(eq(identities.userId, userId), page.after ? lt(identities.id, page.after) : undefined))
    .orderBy(desc(identities.id))
    .limit(page.limit + 1);
  return toPage(rows, page.limit);
}

/**
 * Unlinks one of the caller's identities, unless that would leave them no way to sign in:
 * another identity at a configured provider, or the development sign-in when it is enabled
 * (with `DEV_LOGIN=true` anyone can sign in as any e-mail, so everyone keeps a way in).
 */
export async function unlinkIdentity(
  db: Database,
  caller: Caller,
  identityId: string,
  signInWays: { devLogin: boolean; providers: readonly string[] },
): Promise<void> {
  const mine = await db.select().from(identities).where(eq(identities.userId, caller.user.id));
  const target = mine.find((i) => i.id === identityId);
  if (!target) throw new NotFound("Identity");
  const othersUsable = mine.some((i) => i.id !== identityId && signInWays.providers.includes(i.provider));
  if (!othersUsable && !signInWays.devLogin) {
    throw new Conflict(
      "This is your only way to sign in; link another account before unlinking it.",
      "last_sign_in_method",
    );
  }
  await db.batch([
    db.delete(identities).where(and(eq(identities.id, identityId), eq(identities.userId, caller.user.id))),
    auditInsert(db, caller, {
      action: "identity.unlink",
      targetType: "identity",
      targetId: identityId,
      before: { provider: target.provider, login: target.login },
    }),
  ]);
}

/** Refresh this long before the provider's stated expiry, so a token does not die in flight. */
const REFRESH_MARGIN_MS = 60_000;

const isFresh = (identity: Identity) =>
  (identity.tokenExpiresAt?.getTime() ?? Number.POSITIVE_INFINITY) - REFRESH_MARGIN_MS > Date.now();

/**
 * The identity's provider access token, refreshed through the provider (and re-sealed) when
 * it has expired or is about to. When the user must sign in with the provider again (no
 * refresh token, or one the provider refuses, or tokens sealed under a key no longer
 * configured) it throws 403 `provider_reauthentication_required`.
 */
export async function freshAccessToken(db: Database, env: Env, identity: Identity): Promise<string> {
  const config = readConfig(env);
  const keys = requireSealingKeys(config);
  if (isFresh(identity)) return openToken(keys, identity, "access");
  const settings = providerSettings(config, identity.provider);
  if (!identity.refreshTokenSealed || !settings) throw reauthenticate(identity.provider);
  const refreshToken = await openToken(keys, identity, "refresh");
  let tokens: ProviderTokens;
  try {
    tokens = await signInProvider(settings, null).refresh(refreshToken);
  } catch (error) {
    if (!(error instanceof ApiError && error.code === "invalid_grant")) throw error;
    // Another request may have refreshed (and so rotated) it first: use what that one stored.
    const latest = await db.select().from(identities).where(eq(identities.id, identity.id)).get();
    if (latest && latest.refreshTokenSealed !== identity.refreshTokenSealed && isFresh(latest)) {
      return openToken(keys, latest, "access");
    }
    throw reauthenticate(identity.provider); // revoked or expired
  }
  // Providers that do not rotate refresh tokens leave them out of the answer.
  const sealed = await sealTokens(keys, identity.id, { ...tokens, refreshToken: tokens.refreshToken ?? refreshToken });
  await db.update(identities).set({ ...sealed, updatedAt: new Date() }).where(eq(identities.id, identity.id));
  return tokens.accessToken;
}

const reauthenticate = (provider: string) =>
  new Forbidden(
    `Your ${provider} authorization has expired; sign in with ${provider} again.`,
    "provider_reauthentication_required",
  );

async function openToken(keys: SealingKeys, identity: Identity, kind: "access" | "refresh"): Promise<string> {
  const sealed = kind === "access" ? identity.accessTokenSealed : identity.refreshTokenSealed!;
  try {
    return await unseal(keys, sealed, tokenContext(identity.id, kind));
  } catch (error) {
    // Sealed under a key that has since been removed: only a new sign-in brings new tokens.
    if (error instanceof SealError) throw reauthenticate(identity.provider);
    throw error;
  }
}

/** Sealed for this identity and purpose only (see src/lib/seal.ts). */
const tokenContext = (identityId: string, kind: "access" | "refresh") => `identity:${identityId}:${kind}`;

async function sealTokens(keys: SealingKeys, identityId: string, tokens: ProviderTokens) {
  return {
    accessTokenSealed: await seal(keys, tokens.accessToken, tokenContext(identityId, "access")),
    refreshTokenSealed: tokens.refreshToken
      ? await seal(keys, tokens.refreshToken, tokenContext(identityId, "refresh"))
      : null,
    tokenExpiresAt: tokens.expiresAt,
  };
}

/** Audit rows name the user a sign-in acts as. */
const actor = (user: User, request: RequestMeta): Caller => ({ user, scopes: [], ...request });

/**
 * A concurrent sign-in can win a race the batched read could not see (the same identity, or
 * the same e-mail, created in between): that is a conflict to retry, not a server error.
 */
async function applyWrites(db: Database, writes: Parameters<Database["batch"]>[0]): Promise<void> {
  try {
    await db.batch(writes);
  } catch (error) {
    if (/UNIQUE constraint failed/.test(String((error as { cause?: unknown }).cause ?? error))) {
      throw new Conflict("This account changed while you were signing in; try again.", "conflict");
    }
    throw error;
  }
}
