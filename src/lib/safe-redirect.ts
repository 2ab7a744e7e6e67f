/**
 * The one way edgepod redirects a browser to a caller-chosen place (after sign-in, say).
 * Only same-site relative paths are allowed; anything else falls back to `/`. The result
 * always ends in an empty fragment (`#`): browsers carry a URL fragment across redirects,
 * so without it a fragment planted in the sign-in URL would survive onto our page (the
 * reason Gitpod has `safeFragmentRedirect`).
 */
export function safeRedirectPath(target: string | undefined | null, fallback = "/"): string {
  return `${sameSitePath(target) ?? fallback}#`;
}

function sameSitePath(target: string | undefined | null): string | null {
  // A single leading slash only: `//host` and `/\host` are protocol-relative to browsers.
  if (!target || !target.startsWith("/") || target.startsWith("//") || target.includes("\\")) return null;
  // Control characters (tab, newline) are stripped by URL parsers and can rebuild `//`.
  if (/[\u0000-\u001f\u007f]/.test(target)) return null;
  const base = "https://edgepod.invalid";
  let url: URL;
  try {
    url = new URL(target, base);
  } catch {
    return null;
  }
  if (url.origin !== base) return null;
  return url.pathname + url.search;
}
