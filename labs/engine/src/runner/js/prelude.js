// Globals every k6 script sees.
(function () {
  const n = globalThis.__k6n;
  const fmt = (args) => args.map((a) => {
    if (typeof a === "string") return a;
    if (a instanceof Error) return String(a);
    try { const s = JSON.stringify(a); return s === undefined ? String(a) : s; } catch (e) { return String(a); }
  }).join(" ");
  globalThis.console = {
    log: (...a) => n.log("info", fmt(a)),
    info: (...a) => n.log("info", fmt(a)),
    debug: (...a) => n.log("debug", fmt(a)),
    warn: (...a) => n.log("warn", fmt(a)),
    error: (...a) => n.log("error", fmt(a)),
  };
  globalThis.open = function () {
    throw new Error("open() is not available in the lab sandbox: scripts cannot read files");
  };
  // Read when used, not written before every iteration.
  Object.defineProperty(globalThis, "__ITER", { get: () => n.iter(), enumerable: true, configurable: false });
  const rnd = () => n.random();
  Math.random = rnd;
  // The run's clock: virtual time in sim mode, so Date.now() is deterministic too.
  const RealDate = Date;
  function LabDate(...args) {
    if (!new.target) return new RealDate(n.nowMs()).toString();
    return args.length ? new RealDate(...args) : new RealDate(n.nowMs());
  }
  LabDate.prototype = RealDate.prototype;
  LabDate.now = () => n.nowMs();
  LabDate.UTC = RealDate.UTC;
  LabDate.parse = RealDate.parse;
  globalThis.Date = LabDate;
})();
