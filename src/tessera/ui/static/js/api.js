// The HTTP API, as the CLI uses it. The token lives in this tab's sessionStorage only: never in a
// URL, never in localStorage, gone when the tab closes.

const TOKEN_KEY = "tessera.token";

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  },
  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
};

export class ApiError extends Error {
  constructor(status, errors) {
    super(errors.join("; ") || `HTTP ${status}`);
    this.status = status;
    this.errors = errors;
  }
}

// Each path segment escaped, the slashes kept.
export function path(...parts) {
  return parts
    .filter((p) => p !== undefined && p !== "")
    .join("/")
    .split("/")
    .map(encodeURIComponent)
    .join("/");
}

export async function api(method, apiPath, body) {
  const headers = {};
  if (session.token) headers["X-Vault-Token"] = session.token;
  const init = { method, headers, cache: "no-store", credentials: "omit" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(`/v1/${apiPath}`, init);
  const text = await resp.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { errors: [text] };
    }
  }
  if (!resp.ok) throw new ApiError(resp.status, (data && data.errors) || []);
  return data;
}

// LIST as ?list=true; a path with nothing under it is an empty list (the API answers 404).
export async function list(apiPath) {
  try {
    const resp = await api("GET", `${apiPath}?list=true`);
    return (resp && resp.data && resp.data.keys) || [];
  } catch (error) {
    if (error.status === 404) return [];
    throw error;
  }
}

// Text to base64 and back, through UTF-8 (transit takes base64 plaintext).
export function toBase64(text) {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

export function fromBase64(b64) {
  const binary = atob(b64);
  return new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
}
