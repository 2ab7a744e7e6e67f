import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { callerOf } from "../auth/principal";
import { database } from "../db/client";
import type { Project } from "../db/schema";
import { readConfig, type AppEnv } from "../env";
import { mapPage, pageArgs, PageQuerySchema, pageSchema } from "../lib/pagination";
import { PrebuildSettingsChangesSchema, PrebuildSettingsSchema } from "../projects/settings";
import { endPrebuilds } from "../services/prebuilds";
import {
  createProject,
  deleteProject,
  getProject,
  listProjects,
  updateProject,
  webhookUrl,
  type ProjectWithSecret,
} from "../services/projects";
import { authedRoute, createRouter, errors, jsonBody, jsonResponse, noContent } from "./openapi";
import { OrgParams, ProjectParams } from "./schemas";

const ProjectSchema = z
  .object({
    id: z.string().openapi({ example: "prj_01jd3k5v8m0000000000000000" }),
    organizationId: z.string(),
    name: z.string(),
    repositoryUrl: z.string(),
    repository: z.object({
      provider: z.enum(["github", "gitlab", "bitbucket", "git"]),
      host: z.string(),
      fullName: z.string(),
      cloneUrl: z.string(),
    }),
    defaultBranch: z.string().nullable().openapi({ description: "As set, or as the webhooks last said; null until known." }),
    prebuilds: PrebuildSettingsSchema,
    webhook: z.object({
      provider: z.enum(["github", "gitlab", "bitbucket"]),
      url: z.string().openapi({ description: "Set this as the webhook's URL at the SCM (content type JSON), with the webhook secret." }),
    }),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .openapi("Project");

const ProjectWithSecretSchema = ProjectSchema.extend({
  webhookSecret: z.string().nullable().openapi({
    description: "The webhook secret, shown only when created or rotated: the SCM signs deliveries with it (GitLab sends it as X-Gitlab-Token).",
  }),
}).openapi("ProjectWithSecret");

const origin = (c: Context<AppEnv>) => readConfig(c.env).publicOrigin ?? new URL(c.req.url).origin;

const projectView = (c: Context<AppEnv>, p: Project): z.infer<typeof ProjectSchema> => ({
  id: p.id,
  organizationId: p.orgId,
  name: p.name,
  repositoryUrl: p.repository.normalizedUrl,
  repository: { provider: p.repository.provider, host: p.repository.host, fullName: p.repository.fullName, cloneUrl: p.repository.cloneUrl },
  defaultBranch: p.defaultBranch,
  prebuilds: p.prebuildSettings,
  webhook: webhookUrl(origin(c), p),
  createdAt: p.createdAt.toISOString(),
  updatedAt: p.updatedAt.toISOString(),
});

const withSecretView = (c: Context<AppEnv>, { project, webhookSecret }: ProjectWithSecret) => ({
  ...projectView(c, project),
  webhookSecret,
});

const Branch = z.string().trim().min(1).max(255).regex(/^[^\s~^:?*[\\]+$/, "A branch name.");

const NewProjectSchema = z
  .strictObject({
    name: z.string().trim().min(1).max(100),
    repositoryUrl: z.string().min(1).max(2000).openapi({ example: "https://github.com/gitpod-io/empty" }),
    defaultBranch: Branch.optional().openapi({ description: "Learnt from the webhooks when not given." }),
    prebuilds: PrebuildSettingsChangesSchema.optional(),
  })
  .openapi("NewProject");

const ProjectChangesSchema = z
  .strictObject({
    name: z.string().trim().min(1).max(100).optional(),
    defaultBranch: Branch.nullable().optional(),
    prebuilds: PrebuildSettingsChangesSchema.optional(),
    rotateWebhookSecret: z.boolean().optional().openapi({ description: "A new webhook secret (returned once); the old one stops working." }),
  })
  .openapi("ProjectChanges");

const tags = ["projects"];

export const projectRoutes = createRouter()
  .openapi(
    authedRoute("org.projects.create", {
      method: "post",
      path: "/api/v1/orgs/{orgId}/projects",
      tags,
      summary: "Create a project for a repository; its webhook secret is shown once",
      request: { params: OrgParams, body: jsonBody(NewProjectSchema) },
      responses: { 201: jsonResponse(ProjectWithSecretSchema, "Created."), 400: errors[400], 404: errors[404], 409: errors[409] },
    }),
    async (c) => {
      const created = await createProject(readConfig(c.env), database(c.env.DB), callerOf(c), c.req.valid("param").orgId, c.req.valid("json"));
      return c.json(withSecretView(c, created), 201);
    },
  )
  .openapi(
    authedRoute("org.projects.read", {
      method: "get",
      path: "/api/v1/orgs/{orgId}/projects",
      tags,
      summary: "The organization's projects (collaborators: those granted to their teams)",
      request: { params: OrgParams, query: PageQuerySchema },
      responses: { 200: jsonResponse(pageSchema(ProjectSchema, "ProjectPage"), "A page of projects."), 400: errors[400], 404: errors[404] },
    }),
    async (c) => {
      const page = await listProjects(database(c.env.DB), callerOf(c), c.req.valid("param").orgId, pageArgs(c.req.valid("query")));
      return c.json(mapPage(page, (p) => projectView(c, p)), 200);
    },
  )
  .openapi(
    authedRoute("project.read", {
      method: "get",
      path: "/api/v1/projects/{projectId}",
      tags,
      summary: "Get a project",
      request: { params: ProjectParams },
      responses: { 200: jsonResponse(ProjectSchema, "The project."), 404: errors[404] },
    }),
    async (c) => c.json(projectView(c, await getProject(database(c.env.DB), callerOf(c), c.req.valid("param").projectId)), 200),
  )
  .openapi(
    authedRoute("project.write", {
      method: "patch",
      path: "/api/v1/projects/{projectId}",
      tags,
      summary: "Rename a project, change its prebuild settings or default branch, rotate its webhook secret",
      description: "Prebuild settings are merged and then checked as a whole. The repository cannot change.",
      request: { params: ProjectParams, body: jsonBody(ProjectChangesSchema) },
      responses: { 200: jsonResponse(ProjectWithSecretSchema, "Updated."), 400: errors[400], 404: errors[404], 409: errors[409] },
    }),
    async (c) => {
      const updated = await updateProject(readConfig(c.env), database(c.env.DB), callerOf(c), c.req.valid("param").projectId, c.req.valid("json"));
      return c.json(withSecretView(c, updated), 200);
    },
  )
  .openapi(
    authedRoute("project.delete", {
      method: "delete",
      path: "/api/v1/projects/{projectId}",
      tags,
      summary: "Delete a project: its prebuilds in progress are cancelled and its records removed",
      request: { params: ProjectParams },
      responses: { 204: noContent, 404: errors[404] },
    }),
    async (c) => {
      const inFlight = await deleteProject(database(c.env.DB), callerOf(c), c.req.valid("param").projectId);
      c.executionCtx.waitUntil(endPrebuilds(c.env, inFlight));
      return c.body(null, 204);
    },
  );
