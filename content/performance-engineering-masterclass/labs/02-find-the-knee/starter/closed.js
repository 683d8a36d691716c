// Closed model: a fixed number of VUs, each sending its next request as soon
// as the previous one answers. No sleep: every VU keeps one request in flight.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  scenarios: {
    closed: {
      executor: 'constant-vus',
      vus: 5,
      duration: '30s',
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
