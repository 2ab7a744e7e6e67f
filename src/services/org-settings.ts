import { z } from "@hono/zod-openapi";

const hostname = z
  .string()
  .max(253)
  .regex(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/, "Must be a host name.");

const minutes = (max: number) => z.number().int().min(5).max(max);

/**
 * Organization settings that later features read: workspace defaults and limits, editors,
 * sharing, SCM hosts, maintenance mode (no workspace or prebuild may start while on), and
 * whether members must come through the organization's single sign-on.
 */
export const OrgSettingsSchema = z
  .object({
    defaultWorkspaceImage: z.string().min(1).max(300).nullable().openapi({ example: "gitpod/workspace-full" }),
    defaultWorkspaceTimeoutMinutes: minutes(24 * 60),
    maxWorkspaceTimeoutMinutes: minutes(7 * 24 * 60),
    allowedEditors: z.array(z.string().min(1).max(50)).max(50).openapi({ description: "Empty: any editor." }),
    membersCanShareWorkspaces: z.boolean(),
    allowedScmHosts: z.array(hostname).max(50).openapi({ description: "Empty: any host." }),
    maintenanceMode: z.boolean(),
    requireSso: z.boolean().openapi({
      description:
        "Members must have signed in through the organization's single sign-on to access it (owners are exempt). " +
        "Can be turned on only while single sign-on is active.",
    }),
  })
  .openapi("OrgSettings");

export type OrgSettings = z.infer<typeof OrgSettingsSchema>;

export const DEFAULT_ORG_SETTINGS: OrgSettings = {
  defaultWorkspaceImage: null,
  defaultWorkspaceTimeoutMinutes: 30,
  maxWorkspaceTimeoutMinutes: 8 * 60,
  allowedEditors: [],
  membersCanShareWorkspaces: true,
  allowedScmHosts: [],
  maintenanceMode: false,
  requireSso: false,
};

/** Settings as stored, completed with the defaults of settings added since they were saved. */
export const withDefaults = (settings: Partial<OrgSettings>): OrgSettings => ({ ...DEFAULT_ORG_SETTINGS, ...settings });

/** A partial update, merged over the current settings and then checked as a whole. */
export const OrgSettingsChangesSchema = OrgSettingsSchema.partial().strict().openapi("OrgSettingsChanges");

export function mergeSettings(current: OrgSettings, changes: Partial<OrgSettings>): OrgSettings {
  return { ...withDefaults(current), ...changes };
}

/** Cross-field rules, checked after merging; returns the failing field or null. */
export function settingsProblem(settings: OrgSettings): { path: string; message: string } | null {
  if (settings.defaultWorkspaceTimeoutMinutes > settings.maxWorkspaceTimeoutMinutes) {
    return {
      path: "settings.defaultWorkspaceTimeoutMinutes",
      message: "Must not exceed maxWorkspaceTimeoutMinutes.",
    };
  }
  return null;
}
