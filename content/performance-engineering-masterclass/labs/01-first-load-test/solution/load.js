// A load test: ten users for half a minute, judged by thresholds.
import http from 'k6/http';
import { check, sleep } from 'k6';

export const options = {
  stages: [
    { duration: '10s', target: 10 }, // ramp up
    { duration: '20s', target: 10 }, // hold
    { duration: '5s', target: 0 }, // ramp down
  ],
  thresholds: {
    http_req_duration: ['p(95)<500'],
    http_req_failed: ['rate<0.01'],
  },
};

const params = {
  headers: {
    'Content-Type': 'application/json',
    Authorization: 'token abcdef0123456789',
  },
};

export default function () {
  const res = http.post(
    `${__ENV.BASE_URL}/api/pizza`,
    JSON.stringify({ maxNumberOfToppings: 5, mustBeVegetarian: false }),
    params,
  );
  check(res, { 'pizza: status is 200': (r) => r.status === 200 });
  sleep(1);
}
