// Open model: the arrival rate ramps from 20 to 240 iterations per second over
// two minutes, whether or not earlier requests have finished.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  scenarios: {
    open: {
      executor: 'ramping-arrival-rate',
      startRate: 20,
      timeUnit: '1s',
      stages: [{ duration: '2m', target: 240 }],
      // When responses slow down, k6 needs more VUs to keep the rate: rate x latency.
      preAllocatedVUs: 50,
      maxVUs: 500,
    },
  },
};

const params = {
  headers: { 'Content-Type': 'application/json', Authorization: 'token abcdef0123456789' },
};

export default function () {
  const res = http.post(`${__ENV.BASE_URL}/api/pizza`, JSON.stringify({ maxNumberOfToppings: 5 }), params);
  check(res, { 'status is 200': (r) => r.status === 200 });
}
