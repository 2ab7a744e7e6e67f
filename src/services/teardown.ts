/**
 * What deleting rows leaves behind in Durable Objects: D1 cascades remove the rows of an
 * organization's (or a user's) workspaces and runners, but their objects — and the
 * processes on the runners — live on until told. Deletions collect these ids in the same
 * batch as the delete; the caller then tears them down.
 */
export interface LiveObjects {
  workspaceIds: string[];
  runnerIds: string[];
}

/** Stops and forgets each workspace (its runner is told), then shuts each runner down. */
export async function tearDown(env: Env, objects: LiveObjects): Promise<void> {
  await Promise.all(objects.workspaceIds.map((id) => env.WORKSPACE.get(env.WORKSPACE.idFromName(id)).remove()));
  await Promise.all(objects.runnerIds.map((id) => env.RUNNER.get(env.RUNNER.idFromName(id)).shutdown()));
}
