// The `k6/metrics` module: custom metrics.
const n = globalThis.__k6n;

function make(kind) {
  return class {
    constructor(name, isTime) {
      if (typeof name !== "string") throw new Error("a metric needs a name");
      n.metricNew(name, kind, !!isTime);
      this.name = name;
    }
    add(value, tags) {
      let v = value;
      if (kind === "rate") v = value ? 1 : 0;
      else if (typeof v === "boolean") v = v ? 1 : 0;
      else v = Number(v);
      n.metricAdd(this.name, v, tags ? JSON.stringify(tags) : "");
      return true;
    }
  };
}

export const Counter = make("counter");
export const Gauge = make("gauge");
export const Rate = make("rate");
export const Trend = make("trend");
export default { Counter, Gauge, Rate, Trend };
