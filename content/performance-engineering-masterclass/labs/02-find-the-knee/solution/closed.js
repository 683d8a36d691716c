// Closed model: VUs ramped in steps, each sending its next request as soon as
// the previous one answers. No sleep: every VU keeps one request in flight.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  scenarios: {
    closed: {
      executor: 'ramping-vus',
      startVUs: 1,
      // Steps long enough for the percentiles of each level to settle.
      stages: [
        { duration: '10s', target: 1 },
        { duration: '10s', target: 2 },
        { duration: '10s', target: 3 },
        { duration: '10s', target: 4 },
        { duration: '10s', target: 6 },
        { duration: '10s', target: 8 },
        { duration: '10s', target: 12 },
        { duration: '10s', target: 16 },
        { duration: '10s', target: 24 },
        { duration: '10s', target: 32 },
      ],
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
