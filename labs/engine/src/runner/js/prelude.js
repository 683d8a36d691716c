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
  const rnd = () => n.random();
  Math.random = rnd;
})();
