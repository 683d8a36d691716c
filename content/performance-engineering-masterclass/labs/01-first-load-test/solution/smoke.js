// A smoke test: one user, a handful of iterations. It answers one question —
// does the script work against the service at all? — before you spend
// minutes of load on a script with a typo in it.
import http from 'k6/http';
import { check, sleep } from 'k6';

export const options = {
  vus: 1,
  iterations: 5,
};

// The toy service is QuickPizza: recommendations need a token.
const params = {
  headers: {
    'Content-Type': 'application/json',
    Authorization: 'token abcdef0123456789',
  },
};

export default function () {
  const doughs = http.get(`${__ENV.BASE_URL}/api/doughs`);
  check(doughs, { 'doughs: status is 200': (r) => r.status === 200 });

  const res = http.post(
    `${__ENV.BASE_URL}/api/pizza`,
    JSON.stringify({ maxNumberOfToppings: 5, mustBeVegetarian: false }),
    params,
  );
  check(res, {
    'pizza: status is 200': (r) => r.status === 200,
    'pizza: has a name': (r) => r.json('pizza.name') !== undefined,
  });
  sleep(1);
}
