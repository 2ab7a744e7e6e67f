import { z } from "@hono/zod-openapi";
import type { Build, WebhookProvider } from "../prebuilds/messages";

/**
 * Reading SCM webhook deliveries (already verified) into what edgepod acts on: pushes to
 * branches and pull/merge requests opened or updated become builds; pings are answered;
 * everything else is acknowledged and ignored. Only the fields used are read (loosely), so
 * payloads may grow without breaking this.
 */
export type Delivery =
  | { kind: "ping"; event: string }
  | { kind: "ignored"; event: string; reason: string }
  | { kind: "builds"; event: "push" | "pull_request"; repository: string; defaultBranch: string | null; builds: Build[] };

/** Header look-up (case-insensitive, as Headers are). */
export type HeaderOf = (name: string) => string | undefined;

export class PayloadError extends Error {
  override name = "PayloadError";
}

const NULL_SHA = /^0+$/;
const sha = z.string().regex(/^[0-9a-f]{7,64}$/i);
const branchOf = (ref: string) => (ref.startsWith("refs/heads/") ? ref.slice("refs/heads/".length) : null);

function parse<T extends z.ZodType>(schema: T, payload: unknown, event: string): z.infer<T> {
  const result = schema.safeParse(payload);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new PayloadError(`The ${event} payload lacks what edgepod reads (${issue ? `${issue.path.join(".")}: ${issue.message}` : "unknown"}).`);
  }
  return result.data;
}

const ignored = (event: string, reason: string): Delivery => ({ kind: "ignored", event, reason });

// ── GitHub (and GitHub-compatible servers) ──────────────────────────────────────────

const GithubRepository = z.looseObject({ full_name: z.string(), default_branch: z.string().optional() });
const GithubPush = z.looseObject({ ref: z.string(), after: z.string(), deleted: z.boolean().optional(), repository: GithubRepository });
const GithubPullRequest = z.looseObject({
  action: z.string(),
  number: z.number().int().positive(),
  pull_request: z.looseObject({ head: z.looseObject({ sha, ref: z.string() }) }),
  repository: GithubRepository,
});
const PR_ACTIONS = new Set(["opened", "synchronize", "reopened"]);

function github(header: HeaderOf, payload: unknown): Delivery {
  const event = header("x-github-event") ?? "";
  if (event === "ping") return { kind: "ping", event };
  if (event === "push") {
    const push = parse(GithubPush, payload, event);
    const branch = branchOf(push.ref);
    if (!branch) return ignored(event, `Not a branch: ${push.ref}.`);
    if (push.deleted || NULL_SHA.test(push.after)) return ignored(event, "The branch was deleted.");
    const commit = parse(sha, push.after, event);
    return builds("push", push.repository.full_name, push.repository.default_branch ?? null, [{ ref: branch, branch, commit, pullRequest: null }]);
  }
  if (event === "pull_request") {
    const pr = parse(GithubPullRequest, payload, event);
    if (!PR_ACTIONS.has(pr.action)) return ignored(event, `Pull request action "${pr.action}" starts nothing.`);
    const { head } = pr.pull_request;
    return builds("pull_request", pr.repository.full_name, pr.repository.default_branch ?? null, [
      { ref: `refs/pull/${pr.number}/head`, branch: head.ref, commit: head.sha, pullRequest: pr.number },
    ]);
  }
  return ignored(event || "unknown", "This event starts nothing.");
}

// ── GitLab ─────────────────────────────────────────────────────────────────────────

const GitlabProject = z.looseObject({ path_with_namespace: z.string(), default_branch: z.string().nullish() });
const GitlabPush = z.looseObject({ ref: z.string(), after: z.string(), checkout_sha: z.string().nullish(), project: GitlabProject });
const GitlabMergeRequest = z.looseObject({
  object_attributes: z.looseObject({
    iid: z.number().int().positive(),
    action: z.string().optional(),
    source_branch: z.string(),
    last_commit: z.looseObject({ id: sha }),
    oldrev: z.string().optional(),
  }),
  project: GitlabProject,
});

function gitlab(header: HeaderOf, payload: unknown): Delivery {
  const event = header("x-gitlab-event") ?? "";
  if (event === "Push Hook") {
    const push = parse(GitlabPush, payload, event);
    const branch = branchOf(push.ref);
    if (!branch) return ignored(event, `Not a branch: ${push.ref}.`);
    if (NULL_SHA.test(push.after)) return ignored(event, "The branch was deleted.");
    const commit = parse(sha, push.checkout_sha ?? push.after, event);
    return builds("push", push.project.path_with_namespace, push.project.default_branch ?? null, [{ ref: branch, branch, commit, pullRequest: null }]);
  }
  if (event === "Merge Request Hook") {
    const mr = parse(GitlabMergeRequest, payload, event);
    const a = mr.object_attributes;
    // `update` is also sent for title or label edits: only new commits (`oldrev`) count.
    const code = a.action === "open" || a.action === "reopen" || (a.action === "update" && a.oldrev !== undefined);
    if (!code) return ignored(event, `Merge request action "${a.action ?? "none"}" brings no new commit.`);
    return builds("pull_request", mr.project.path_with_namespace, mr.project.default_branch ?? null, [
      { ref: `refs/merge-requests/${a.iid}/head`, branch: a.source_branch, commit: a.last_commit.id, pullRequest: a.iid },
    ]);
  }
  return ignored(event || "unknown", "This event starts nothing.");
}

// ── Bitbucket Cloud ────────────────────────────────────────────────────────────────

const BitbucketRepository = z.looseObject({ full_name: z.string(), mainbranch: z.looseObject({ name: z.string() }).nullish() });
const BitbucketPush = z.looseObject({
  push: z.looseObject({
    changes: z.array(
      z.looseObject({
        new: z.looseObject({ type: z.string(), name: z.string(), target: z.looseObject({ hash: sha }) }).nullable(),
      }),
    ),
  }),
  repository: BitbucketRepository,
});
const BitbucketPullRequest = z.looseObject({
  pullrequest: z.looseObject({
    id: z.number().int().positive(),
    source: z.looseObject({ branch: z.looseObject({ name: z.string() }), commit: z.looseObject({ hash: sha }) }),
  }),
  repository: BitbucketRepository,
});

function bitbucket(header: HeaderOf, payload: unknown): Delivery {
  const event = header("x-event-key") ?? "";
  if (event === "diagnostics:ping") return { kind: "ping", event };
  if (event === "repo:push") {
    const push = parse(BitbucketPush, payload, event);
    const list: Build[] = [];
    for (const change of push.push.changes) {
      // A deleted branch has no `new`; tags start nothing.
      if (change.new?.type !== "branch") continue;
      list.push({ ref: change.new.name, branch: change.new.name, commit: change.new.target.hash, pullRequest: null });
    }
    if (list.length === 0) return ignored(event, "No branch got a new commit.");
    return builds("push", push.repository.full_name, push.repository.mainbranch?.name ?? null, list);
  }
  if (event === "pullrequest:created" || event === "pullrequest:updated") {
    const pr = parse(BitbucketPullRequest, payload, event);
    const source = pr.pullrequest.source;
    // Bitbucket has no fetchable pull request ref: the source branch is built.
    return builds("pull_request", pr.repository.full_name, pr.repository.mainbranch?.name ?? null, [
      { ref: source.branch.name, branch: source.branch.name, commit: source.commit.hash, pullRequest: pr.pullrequest.id },
    ]);
  }
  return ignored(event || "unknown", "This event starts nothing.");
}

function builds(event: "push" | "pull_request", repository: string, defaultBranch: string | null, list: Build[]): Delivery {
  return { kind: "builds", event, repository, defaultBranch, builds: list.map((b) => ({ ...b, commit: b.commit.toLowerCase() })) };
}

export const readDelivery: Record<WebhookProvider, (header: HeaderOf, payload: unknown) => Delivery> = { github, gitlab, bitbucket };

/** The SCM's id of the delivery, the same on a redelivery. */
export function deliveryIdOf(provider: WebhookProvider, header: HeaderOf): string | undefined {
  switch (provider) {
    case "github":
      return header("x-github-delivery");
    case "gitlab":
      return header("x-gitlab-event-uuid") ?? header("idempotency-key");
    case "bitbucket":
      return header("x-request-uuid");
  }
}
