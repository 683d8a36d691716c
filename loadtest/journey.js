// A learner's journey through Masterclass, for the platform to load-test itself:
//
//   masterclass lab run loadtest/journey.js --target http://127.0.0.1:8080 -e RATE=2 -e DURATION=60s
//
// Each iteration is one new learner: signs up, browses the catalog, the course
// and two modules, sits the exam (answers questions with autosaves, then
// submits) and queues a lab run. `STEPS` picks a part (browse, exam, lab; all by
// default). Learners arrive at RATE per second (constant-arrival-rate) for
// DURATION, so a slow platform shows as latency and dropped iterations rather
// than as a lower request rate.
//
// The thresholds are the platform's SLOs (deploy/slo/masterclass.sloth.yaml),
// measured from the client: pages, exam saves and lab-run starts, each with an
// availability and a latency objective. The run exits 99 when one is broken.
// The instances need MASTERCLASS_SIGNUPS_PER_HOUR raised: every learner signs
// up from 127.0.0.1.
import http from "k6/http";
import { check, sleep } from "k6";

const BASE = (__ENV.BASE_URL || "http://127.0.0.1:8080").replace(/\/$/, "");
const COURSE = __ENV.COURSE || "performance-engineering-masterclass";
const MODULES = (__ENV.MODULES || "what-a-load-test-is-for,thresholds-are-slos").split(",");
const LAB = __ENV.LAB || "first-load-test";
const RATE = Number(__ENV.RATE || 1);
const DURATION = __ENV.DURATION || "30s";
const QUESTIONS = Number(__ENV.QUESTIONS || 5);
const STEPS = (__ENV.STEPS || "browse,exam,lab").split(",");
const THINK = Number(__ENV.THINK || 0.2);
const RUN = `${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;

export const options = {
  scenarios: {
    journey: {
      executor: "constant-arrival-rate",
      rate: RATE,
      timeUnit: "1s",
      duration: DURATION,
      preAllocatedVUs: Math.max(4, Math.ceil(RATE * 4)),
      maxVUs: Math.max(8, Math.ceil(RATE * 12)),
      gracefulStop: "10s",
    },
  },
  thresholds: {
    "http_req_failed{slo:page}": ["rate<0.005"],
    "http_req_duration{slo:page}": ["p(99)<250"],
    "http_req_failed{slo:exam_save}": ["rate<0.001"],
    "http_req_duration{slo:exam_save}": ["p(99)<100"],
    "http_req_failed{slo:lab_start}": ["rate<0.005"],
    "http_req_duration{slo:lab_start}": ["p(99)<250"],
    // Learners the platform could not take in time count against it too.
    dropped_iterations: ["count<1"],
    checks: ["rate>0.99"],
  },
};

function header(res, name) {
  const want = name.toLowerCase();
  for (const k in res.headers) if (k.toLowerCase() === want) return res.headers[k];
  return undefined;
}

// One learner's session: the cookie the server sets, and the Origin its
// cross-site check expects on every POST.
function session() {
  const s = { cookie: "" };
  s.params = (slo, name) => ({
    headers: { Origin: BASE, Cookie: s.cookie, Accept: "application/json" },
    tags: { slo: slo, name: name },
  });
  s.page = (path, name) => {
    const r = http.get(`${BASE}${path}`, {
      headers: { Cookie: s.cookie, Accept: "text/html" },
      tags: { slo: "page", name: name },
    });
    check(r, { [`${name} page`]: (x) => x.status === 200 });
    return r;
  };
  s.call = (endpoint, form, slo) => {
    const r = http.post(`${BASE}/api/${endpoint}`, form, s.params(slo || "api", endpoint));
    const set = header(r, "Set-Cookie");
    if (set) s.cookie = String(set).split(";")[0];
    return r;
  };
  return s;
}

function signUp(s) {
  const email = `lt-${RUN}-${__VU}-${__ITER}@example.com`;
  const r = s.call("auth/register", { email, display_name: "Load Test", password: "load test password 1" }, "auth");
  return check(r, { "signed up": (x) => (x.status === 200 || x.status === 302) && s.cookie !== "" });
}

function browse(s) {
  s.page("/", "catalog");
  sleep(THINK);
  s.page(`/courses/${COURSE}`, "course");
  for (const m of MODULES) {
    sleep(THINK);
    s.page(`/courses/${COURSE}/${m}`, "module");
  }
}

// Some answer to any question, as the exam page's form posts it.
function answer(kind, variant) {
  if (typeof kind === "string") {
    if (kind === "TrueFalse") return { "answer[0]": variant % 2 ? "false" : "true" };
    if (kind === "Numeric") return { "answer[0]": String(40 + variant) };
    return { "answer[0]": variant % 2 ? "throughput" : "latency" };
  }
  const f = {};
  if (kind.SingleChoice || kind.MultipleResponse) {
    const options = (kind.SingleChoice || kind.MultipleResponse).options;
    f["answer[0]"] = String(variant % options.length);
  } else if (kind.Ordering) {
    kind.Ordering.items.forEach((_, i) => (f[`answer[${i}]`] = String(i + 1)));
  } else if (kind.Matching) {
    const n = kind.Matching.rights.length;
    kind.Matching.lefts.forEach((_, i) => (f[`answer[${i}]`] = String((i + variant) % n)));
  }
  return f;
}

function exam(s) {
  s.page(`/courses/${COURSE}/exam`, "exam");
  const started = s.call("exam/start", { course: COURSE }, "exam");
  if (!check(started, { "exam started": (x) => x.status === 200 })) return;
  const attempt = String(started.json());
  for (let pos = 1; pos <= QUESTIONS; pos++) {
    const q = s.call("exam/question", { attempt, position: String(pos) }, "exam");
    if (!check(q, { "question shown": (x) => x.status === 200 })) return;
    const page = q.json();
    // Autosave: the answer is saved as it changes, twice per question here.
    for (let v = 1; v <= 2; v++) {
      sleep(THINK);
      const form = Object.assign({ attempt, position: String(pos), seq: String(page.seq + v) }, answer(page.view.kind, v));
      const saved = s.call("exam/save", form, "exam_save");
      check(saved, { "answer saved": (x) => x.status === 200 && x.json().applied === true });
    }
  }
  const done = s.call("exam/submit", { attempt }, "exam");
  check(done, { "exam submitted": (x) => x.status === 200 });
}

function lab(s) {
  s.page(`/courses/${COURSE}/labs/${LAB}`, "lab");
  const got = s.call("labs/get", { course: COURSE, lab: LAB }, "lab");
  if (!check(got, { "lab shown": (x) => x.status === 200 })) return;
  const form = { course: COURSE, lab: LAB };
  for (const f of got.json().files) form[`files[${f.name}]`] = f.body;
  const run = s.call("labs/run", form, "lab_start");
  check(run, { "lab run queued": (x) => x.status === 200 });
}

export function setup() {
  const r = http.get(`${BASE}/readyz`);
  if (r.status !== 200) throw new Error(`${BASE}/readyz answered ${r.status}: start the platform first`);
}

export default function () {
  const s = session();
  if (!signUp(s)) return;
  if (STEPS.includes("browse")) browse(s);
  if (STEPS.includes("exam")) exam(s);
  if (STEPS.includes("lab")) lab(s);
}
