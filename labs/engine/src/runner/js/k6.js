// The `k6` module, backed by the runner's native bridge (globalThis.__k6n).
const n = globalThis.__k6n;

// The runner walks `sets` itself: one call per check() whatever its size.
export function check(val, sets, tags) {
  return n.checks(val, sets, tags ? JSON.stringify(tags) : undefined);
}

export function sleep(secs) {
  n.sleep(Number(secs) || 0);
}

export function group(name, fn) {
  if (typeof name !== "string" || name === "") throw new Error("group() needs a non-empty name");
  if (name.indexOf("::") >= 0) throw new Error("group and check names may not contain '::'");
  n.groupEnter(name);
  let ok = false;
  try {
    const r = fn();
    ok = true;
    return r;
  } finally {
    n.groupExit(ok);
  }
}

export function fail(msg) {
  throw new Error(msg === undefined ? "fail() called" : String(msg));
}

export function randomSeed(seed) {
  n.randomSeed(Number(seed) || 0);
}

export default { check, sleep, group, fail, randomSeed };
