// Open model: iterations start at a rate you choose, whether or not earlier
// ones have finished, the way independent shoppers arrive.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  scenarios: {
    open: {
      executor: 'constant-arrival-rate',
      rate: 50,
      timeUnit: '1s',
      duration: '30s',
      preAllocatedVUs: 10,
      maxVUs: 50,
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
