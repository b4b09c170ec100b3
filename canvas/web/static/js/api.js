// HTTP and WebSocket access to Canvas's public API (same origin), with the optional token.
//
// With API_TOKEN_SCOPE=all every route answers 401 until the page sends
// `Authorization: Bearer <token>`: the first 401 opens the token dialog once (every waiting
// request shares it), the token is kept in localStorage, and the request is retried.

const TOKEN_KEY = "canvas.apiToken";

/** An HTTP error reply: `status` and the contract's `detail` (string or list). */
export class ApiError extends Error {
  constructor(status, detail, path) {
    super(`${path}: ${status} ${typeof detail === "string" ? detail : JSON.stringify(detail)}`);
    this.status = status;
    this.detail = detail;
    this.path = path;
  }
}

/** A response index.html already asked for (the live chart's first reads), taken once. */
function takePrefetched(url) {
  const early = window.__canvasPrefetch;
  if (!early || !(url in early)) return null;
  const response = early[url];
  delete early[url];
  return response;
}

function readToken() {
  try {
    return localStorage.getItem(TOKEN_KEY) || "";
  } catch {
    return "";
  }
}

export class Api {
  constructor() {
    this.token = readToken();
    this.asking = null;
  }

  /** GET `path` with query `params` (null/undefined values left out); resolves to JSON. */
  get(path, params = {}, options = {}) {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) {
      if (value !== null && value !== undefined) query.set(key, String(value));
    }
    const qs = query.toString();
    return this.request("GET", qs ? `${path}?${qs}` : path, undefined, options);
  }

  /** POST a JSON body; resolves to the JSON reply. */
  post(path, body, options = {}) {
    return this.request("POST", path, body, options);
  }

  async request(method, path, body, { signal } = {}) {
    let early = method === "GET" ? takePrefetched(path) : null;
    for (;;) {
      const headers = { Accept: "application/json" };
      if (body !== undefined) headers["Content-Type"] = "application/json";
      if (this.token) headers.Authorization = `Bearer ${this.token}`;
      const response = await (early ||
        fetch(path, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
          signal,
          cache: "no-store",
        }));
      early = null;
      if (response.status === 401) {
        await this.askToken(Boolean(this.token));
        continue;
      }
      const text = await response.text();
      let doc = null;
      try {
        doc = text ? JSON.parse(text) : null;
      } catch {
        doc = { detail: text.slice(0, 200) };
      }
      if (!response.ok) throw new ApiError(response.status, doc && doc.detail, path);
      return doc;
    }
  }

  /** The WebSocket URL of `path` on this origin; carries the token as `access_token`. */
  wsUrl(path) {
    const url = new URL(path, window.location.href);
    url.protocol = window.location.protocol === "https:" ? "wss:" : "ws:";
    if (this.token) url.searchParams.set("access_token", this.token);
    return url.toString();
  }

  /** Show the token dialog (once for all callers); resolves when a token is saved. */
  askToken(rejected) {
    if (!this.asking) {
      this.asking = new Promise((resolve) => {
        const dialog = document.getElementById("token-dialog");
        const input = document.getElementById("token-input");
        document.getElementById("token-error").classList.toggle("hidden", !rejected);
        input.value = "";
        const form = document.getElementById("token-form");
        const onSubmit = () => {
          const token = input.value.trim();
          if (!token) return;
          form.removeEventListener("submit", onSubmit);
          this.token = token;
          try {
            localStorage.setItem(TOKEN_KEY, token);
          } catch {
            // Private mode: the token lasts for this page only.
          }
          this.asking = null;
          resolve();
        };
        form.addEventListener("submit", onSubmit);
        // Every API call waits on this token: Escape must not dismiss the dialog.
        dialog.addEventListener("cancel", (event) => event.preventDefault());
        dialog.showModal();
        input.focus();
      });
    }
    return this.asking;
  }
}
