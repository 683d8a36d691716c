// The `k6/execution` module.
const n = globalThis.__k6n;
const info = () => JSON.parse(n.execInfo());

const exec = {
  get vu() {
    const i = info();
    return {
      idInInstance: i.vu,
      idInTest: i.vu,
      iterationInInstance: i.iter,
      iterationInScenario: i.iterInScenario,
      tags: {},
      metrics: { tags: {}, metadata: {} },
    };
  },
  get scenario() {
    const i = info();
    return {
      name: i.scenario,
      executor: i.executor,
      startTime: i.scenarioStart,
      progress: i.progress,
      iterationInInstance: i.iterInScenario,
      iterationInTest: i.iterInScenario,
    };
  },
  get instance() {
    const i = info();
    return { currentTestRunDuration: i.elapsedMs, iterationsCompleted: i.iterationsCompleted, iterationsInterrupted: 0, vusActive: i.vusActive, vusInitialized: i.vusMax };
  },
  test: {
    abort(reason) {
      n.abort(reason === undefined ? "test aborted" : String(reason));
    },
    get options() {
      return JSON.parse(n.options());
    },
  },
};
export const vu = undefined;
export default exec;
