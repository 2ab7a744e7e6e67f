import type { Config } from "../env";
import { BadRequest } from "../lib/errors";
import { ACCEPTED_FORMS, ContextUrlError, parseContextUrl, type RepositoryContext } from "../scm/context-url";
import type { OrgSettings } from "./org-settings";

/**
 * A repository (or context) URL as the organization allows it: parsed like a context URL,
 * on a host the organization's settings accept. Problems are 400s naming `field`.
 */
export function repositoryFrom(input: string, config: Config, settings: OrgSettings, field: string): RepositoryContext {
  return allowedBy(settings, parseRepository(input, config, field), field);
}

/** Parsed like a context URL; a 400 naming `field` (and the accepted forms) when it does not parse. */
export function parseRepository(input: string, config: Config, field: string): RepositoryContext {
  try {
    return parseContextUrl(input, config.scmHosts);
  } catch (error) {
    if (!(error instanceof ContextUrlError)) throw error;
    throw new BadRequest(`${error.message} Accepted forms: ${ACCEPTED_FORMS.join("; ")}.`, [{ path: field, message: error.message }]);
  }
}

/** The repository, if its host is one the organization's settings accept. */
export function allowedBy(settings: OrgSettings, repository: RepositoryContext, field: string): RepositoryContext {
  if (settings.allowedScmHosts.length > 0 && !settings.allowedScmHosts.includes(repository.host)) {
    throw new BadRequest("This organization does not allow that host.", [
      { path: field, message: `Allowed hosts: ${settings.allowedScmHosts.join(", ")}.` },
    ]);
  }
  return repository;
}

/**
 * How a workspace's repository finds the project for it: `host/full/name`, lower-cased on
 * the SCM hosts (whose names ignore case), verbatim for plain git and file paths.
 */
export function repositoryKey(r: Pick<RepositoryContext, "provider" | "host" | "fullName">): string {
  const key = `${r.host}/${r.fullName}`;
  return r.provider === "git" ? key : key.toLowerCase();
}
