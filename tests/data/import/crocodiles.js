// A k6 script in the style of k6's own examples (test-api.k6.io crocodiles).
import http from 'k6/http';
import { check, group, sleep } from 'k6';

export const options = {
  stages: [
    { duration: '1s', target: 3 },
    { duration: '2s', target: 3 },
    { duration: '1s', target: 0 },
  ],
  thresholds: {
    http_req_failed: ['rate<0.01'], // fewer than 1% errors
    http_req_duration: ['p(95)<500'],
  },
};

const BASE_URL = 'https://test-api.k6.io';
const USERNAME = 'TestUser';
const PASSWORD = 'SuperCroc2020';

export default function () {
  /* Log in: the body is JSON.stringify'd, so a ")" inside it (like this one) must not end
     the call: http.get('/not-a-request') */
  const loginRes = http.post(
    `${BASE_URL}/auth/token/login/`,
    JSON.stringify({ username: USERNAME, password: PASSWORD, note: 'a (parenthesis)' }),
    { headers: { 'Content-Type': 'application/json' }, tags: { name: 'login' } },
  );
  check(loginRes, {
    'logged in successfully': (r) => r.status === 200,
    'has access token': (r) => r.json('access') !== '',
  });

  group('public crocodiles', function () {
    const res = http.get(`${BASE_URL}/public/crocodiles/`);
    check(res, {
      'status is 200': (r) => r.status === 200,
      'lists crocodiles': (r) => r.body.includes('name'),
    });
    sleep(0.1);
  });

  const payload = { name: 'Lazy Croc', sex: 'M', date_of_birth: '2001-01-01' };
  http.post(BASE_URL + '/my/crocodiles/', payload);
  http.del(`${BASE_URL}/my/crocodiles/1/`, null, {
    headers: { Authorization: 'Bearer ' + __ENV.TOKEN },
  });
  http.batch([['GET', `${BASE_URL}/public/crocodiles/1/`]]);
  sleep(0.2);
}
