// The `k6` module, backed by the runner's native bridge (globalThis.__k6n).
const n = globalThis.__k6n;

export function check(val, sets, tags) {
  let all = true;
  const extra = tags ? JSON.stringify(tags) : "";
  const names = Object.keys(sets);
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    const c = sets[name];
    let ok;
    if (typeof c === "function") {
      ok = !!c(val);
    } else {
      ok = !!c;
    }
    n.check(name, ok, extra);
    if (!ok) all = false;
  }
  return all;
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
