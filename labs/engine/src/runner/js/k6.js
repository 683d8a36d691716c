// The `k6` module, backed by the runner's native bridge (globalThis.__k6n).
const n = globalThis.__k6n;

// The runner walks `sets` itself (and reads `tags`): one call per check().
export const check = n.checks;

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
