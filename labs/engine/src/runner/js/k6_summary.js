// The k6-summary jslib, resolved to a built-in.
const n = globalThis.__k6n;
export function textSummary(data, options) {
  return n.textSummary(JSON.stringify(data), JSON.stringify(options || {}));
}
export function jUnit(data, options) {
  return n.junitSummary(JSON.stringify(data), JSON.stringify(options || {}));
}
export default { textSummary, jUnit };
