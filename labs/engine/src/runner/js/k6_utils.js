// The k6-utils jslib, resolved to a built-in (randomness comes from the run's seed).
export function randomIntBetween(min, max) {
  return Math.floor(Math.random() * (max - min + 1) + min);
}
export function randomItem(arr) {
  return arr[Math.floor(Math.random() * arr.length)];
}
export function randomString(length, charset) {
  const cs = charset || "abcdefghijklmnopqrstuvwxyz";
  let s = "";
  for (let i = 0; i < length; i++) s += cs.charAt(Math.floor(Math.random() * cs.length));
  return s;
}
export function uuidv4() {
  const h = "0123456789abcdef";
  let s = "";
  for (let i = 0; i < 36; i++) {
    if (i === 8 || i === 13 || i === 18 || i === 23) s += "-";
    else if (i === 14) s += "4";
    else if (i === 19) s += h[(Math.floor(Math.random() * 16) & 0x3) | 0x8];
    else s += h[Math.floor(Math.random() * 16)];
  }
  return s;
}
export function findBetween(content, left, right, repeat) {
  const out = [];
  let from = 0;
  for (;;) {
    const a = content.indexOf(left, from);
    if (a < 0) break;
    const b = content.indexOf(right, a + left.length);
    if (b < 0) break;
    const v = content.substring(a + left.length, b);
    if (!repeat) return v;
    out.push(v);
    from = b + right.length;
  }
  return repeat ? out : null;
}
export function normalDistributionStages(maxVUs, durationSeconds, numberOfStages) {
  const n = numberOfStages || 10;
  const stages = [];
  for (let i = 1; i <= n; i++) {
    const x = (i / n) * 6 - 3;
    stages.push({ duration: Math.round(durationSeconds / n) + "s", target: Math.round(maxVUs * Math.exp(-x * x / 2)) });
  }
  return stages;
}
export function tagWithCurrentStageIndex() {}
export function tagWithCurrentStageProfile() {}
export function getCurrentStageIndex() { return 0; }
export default { randomIntBetween, randomItem, randomString, uuidv4, findBetween, normalDistributionStages };
