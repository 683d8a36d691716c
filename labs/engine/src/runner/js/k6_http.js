// The `k6/http` module.
const n = globalThis.__k6n;

function selectPath(obj, selector) {
  let cur = obj;
  for (const part of String(selector).split(".")) {
    if (cur === null || cur === undefined) return undefined;
    if (part === "#" && Array.isArray(cur)) return cur.length;
    cur = cur[part];
  }
  return cur;
}

const REASONS = {
  200: "OK", 201: "Created", 204: "No Content", 301: "Moved Permanently", 302: "Found", 304: "Not Modified",
  400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
  413: "Payload Too Large", 429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
  503: "Service Unavailable", 504: "Gateway Timeout",
};

// Keeps what the runner answered and builds the rest on first use: `a` is
// body, five phases in seconds (blocked, connecting, sending, waiting,
// receiving), headers, body length (-1: the body string's), error text,
// error code, url and the request (its method, or [method, headers, body]).
// Most scripts read only `status`, so a request costs two small objects.
function own(obj, name, value) {
  Object.defineProperty(obj, name, { value, enumerable: true, configurable: true, writable: true });
  return value;
}

class Response {
  constructor(a) {
    this.status = a[0];
    this._a = a;
  }
  get body() {
    return this._a[0];
  }
  set body(v) {
    own(this, "body", v);
  }
  get url() {
    return this._a[10];
  }
  set url(v) {
    own(this, "url", v);
  }
  get error() {
    return this._a[8];
  }
  set error(v) {
    own(this, "error", v);
  }
  get error_code() {
    return this._a[9];
  }
  set error_code(v) {
    own(this, "error_code", v);
  }
  get status_text() {
    const r = REASONS[this.status];
    return this.status + " " + (r === undefined ? "" : r);
  }
  get timings() {
    // Milliseconds computed as the runner computes them for the metrics.
    const a = this._a;
    const duration = (a[3] + a[4] + a[5]) * 1000;
    return own(this, "timings", { duration, blocked: a[1] * 1000, connecting: a[2] * 1000, tls_handshaking: 0, sending: a[3] * 1000, waiting: a[4] * 1000, receiving: a[5] * 1000 });
  }
  set timings(v) {
    own(this, "timings", v);
  }
  get proto() {
    return "HTTP/1.1";
  }
  get headers() {
    const h = {};
    const flat = this._a[6];
    if (typeof flat === "string") {
      const len = this._a[7];
      h["Content-Type"] = flat;
      h["Content-Length"] = String(len < 0 ? this._a[0].length : len);
    } else {
      for (let i = 0; i + 1 < flat.length; i += 2) h[flat[i]] = flat[i + 1];
    }
    return own(this, "headers", h);
  }
  set headers(v) {
    own(this, "headers", v);
  }
  toJSON() {
    const { status, body, url, error, error_code, status_text, timings, headers, proto, request } = this;
    return { status, body, url, error, error_code, status_text, timings, headers, proto, request };
  }
  get cookies() {
    return {};
  }
  get request() {
    const r = this._a[11];
    if (typeof r === "string") return { method: r, url: this.url, headers: {}, body: "", cookies: {} };
    return { method: r[0], url: this.url, headers: r[1], body: r[2] === null ? "" : r[2], cookies: {} };
  }
  json(selector) {
    if (this.body === null || this.body === undefined) throw new Error("the body is null, so we can't transform it to JSON");
    const v = JSON.parse(this.body);
    return selector === undefined ? v : selectPath(v, selector);
  }
  html() {
    throw new Error("res.html() is not available in the lab runner");
  }
}

// Responses are made as literals on this prototype: cheaper than `new`.
const RP = Response.prototype;

function encodeBody(body) {
  if (body === undefined || body === null) return null;
  if (typeof body === "string") return body;
  if (typeof body === "object") {
    return Object.keys(body)
      .map((k) => encodeURIComponent(k) + "=" + encodeURIComponent(String(body[k])))
      .join("&");
  }
  return String(body);
}

function doRequest(method, url, body, params) {
  const p = params || {};
  const headers = p.headers || {};
  const flatHeaders = [];
  let hasCT = false;
  for (const k in headers) {
    flatHeaders.push(k, String(headers[k]));
    if (k.toLowerCase() === "content-type") hasCT = true;
  }
  if (body !== null && body !== undefined && typeof body === "object" && !hasCT) {
    flatHeaders.push("Content-Type", "application/x-www-form-urlencoded");
  }
  const flatTags = [];
  const tags = p.tags;
  if (tags) for (const k in tags) flatTags.push(k, String(tags[k]));
  const cb = p.responseCallback;
  const opts = [
    p.timeout === undefined || p.timeout === null ? "" : String(p.timeout),
    p.responseType || "",
    cb && cb.__expected ? JSON.stringify(cb.__expected) : "",
  ];
  const m = String(method).toUpperCase();
  const u = String(url);
  const b = encodeBody(body);
  const a = [null, 0, 0, 0, 0, 0, null, -1, "", 0, u, [m, headers, b]];
  const status = send(a, m, u, b, [flatHeaders, flatTags, opts]);
  return { __proto__: RP, status, _a: a };
}

// The URL the runner holds as the last request's: sending the same one
// again, the script passes none (no string to convert, no route to look up).
// Unknown while a call that names a new one has not returned.
let lastUrl;

function send(a, m, u, b, p) {
  if (u === lastUrl) return n.request(a, m, undefined, b, p);
  lastUrl = undefined;
  const status = n.request(a, m, u, b, p);
  lastUrl = u;
  return status;
}

// Without params or a body there is nothing to flatten: straight to the
// runner, with the method by number (0 GET, 1 HEAD).
function bare(m, code, url) {
  const u = typeof url === "string" ? url : String(url);
  const a = [null, 0, 0, 0, 0, 0, null, -1, "", 0, u, m];
  let status;
  if (u === lastUrl) {
    status = n.request(a, code);
  } else {
    lastUrl = undefined;
    status = n.request(a, code, u);
    lastUrl = u;
  }
  return { __proto__: RP, status, _a: a };
}

export function request(method, url, body, params) {
  return doRequest(method, url, body, params);
}
export function get(url, params) {
  if (params !== undefined) return doRequest("GET", url, null, params);
  // bare() inlined: http.get(url) is the hottest call of most scripts.
  const u = typeof url === "string" ? url : String(url);
  const a = [null, 0, 0, 0, 0, 0, null, -1, "", 0, u, "GET"];
  let status;
  if (u === lastUrl) {
    status = n.request(a, 0);
  } else {
    lastUrl = undefined;
    status = n.request(a, 0, u);
    lastUrl = u;
  }
  return { __proto__: RP, status, _a: a };
}
export function head(url, params) {
  return params === undefined ? bare("HEAD", 1, url) : doRequest("HEAD", url, null, params);
}
export function options(url, body, params) {
  return doRequest("OPTIONS", url, body, params);
}
export function post(url, body, params) {
  return doRequest("POST", url, body, params);
}
export function put(url, body, params) {
  return doRequest("PUT", url, body, params);
}
export function patch(url, body, params) {
  return doRequest("PATCH", url, body, params);
}
export function del(url, body, params) {
  return doRequest("DELETE", url, body, params);
}
export function batch(reqs) {
  const one = (r) => {
    if (typeof r === "string") return doRequest("GET", r, null, {});
    if (Array.isArray(r)) return doRequest(r[0], r[1], r[2] === undefined ? null : r[2], r[3]);
    return doRequest(r.method || "GET", r.url, r.body === undefined ? null : r.body, r.params);
  };
  if (Array.isArray(reqs)) return reqs.map(one);
  const out = {};
  for (const k of Object.keys(reqs)) out[k] = one(reqs[k]);
  return out;
}
export function expectedStatuses(...args) {
  const ranges = [];
  for (const a of args) {
    if (typeof a === "number") ranges.push([a, a]);
    else if (a && typeof a.min === "number" && typeof a.max === "number") ranges.push([a.min, a.max]);
    else throw new Error("expectedStatuses() takes status codes or {min, max} objects");
  }
  return { __expected: ranges };
}
export function setResponseCallback(cb) {
  n.setResponseCallback(cb && cb.__expected ? JSON.stringify(cb.__expected) : "");
}
export function url(strings, ...values) {
  let s = "";
  strings.forEach((str, i) => {
    s += str;
    if (i < values.length) s += String(values[i]);
  });
  return s;
}
export const cookieJar = () => ({ set() {}, cookiesForURL() { return {}; }, clear() {} });

export default { request, get, head, options, post, put, patch, del, batch, expectedStatuses, setResponseCallback, url, cookieJar };
