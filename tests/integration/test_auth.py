"""Task `auth` types oauth2, jwt, sigv4 and digest on the HTTP users, and the auth commands,
checked by servers in this file that verify what arrives: SigV4 signatures recomputed with
botocore's SigV4Auth, JWTs decoded and verified with PyJWT, Digest responses recomputed, and an
OAuth2 token endpoint that counts its requests."""
import base64
import hashlib
import hmac
import http.server
import json
import os
import re
import secrets
import subprocess
import threading
import unittest
import urllib.parse

import jwt
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from ldtest import Case, doc, start_test
from test_serve import Server, legacy_lines

AK, SK, TOKEN = "AKIDLOADDENSITY", "secret/key+LD", "session-token-xyz"
CID, CSECRET = "client-1", "s3cr3t"
JWT_SECRET = "jwt-shared-secret"


def verify_sigv4(method, path, headers, body, access_key=AK, secret_key=SK):
    """Recomputes the request's signature with botocore from the signed headers."""
    m = re.fullmatch(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
                     r"SignedHeaders=([^,]+), Signature=([0-9a-f]{64})",
                     headers.get("Authorization", ""))
    if not m:
        return "no SigV4 Authorization header"
    ak, day, region, service, signed, signature = m.groups()
    if ak != access_key:
        return "wrong access key"
    if headers.get("x-amz-content-sha256") != hashlib.sha256(body).hexdigest():
        return "x-amz-content-sha256 is not the body's hash"
    names = signed.split(";")
    if "host" not in names or "x-amz-date" not in names:
        return "host or x-amz-date not signed"
    req = AWSRequest(method=method, url="http://" + headers["host"] + path, data=body,
                     headers={n: headers[n] for n in names})
    req.context["timestamp"] = headers["x-amz-date"]
    if day != headers["x-amz-date"][:8]:
        return "credential scope date differs from x-amz-date"
    auth = SigV4Auth(Credentials(access_key, secret_key, headers.get("x-amz-security-token")),
                     service, region)
    expected = auth.signature(auth.string_to_sign(req, auth.canonical_request(req)), req)
    return None if hmac.compare_digest(expected, signature) else "signature mismatch"


class CI(dict):
    """Header names looked up case-insensitively (as http.server's headers are)."""

    def __init__(self, d):
        super().__init__({k.lower(): v for k, v in d.items()})

    def __getitem__(self, k):
        return super().__getitem__(k.lower())

    def get(self, k, default=None):
        return super().get(k.lower(), default)


def digest_response(algorithm, user, realm, password, method, uri, nonce, nc, cnonce):
    h = (lambda s: hashlib.md5(s.encode()).hexdigest()) if algorithm == "MD5" else \
        (lambda s: hashlib.sha256(s.encode()).hexdigest())
    ha1 = h(f"{user}:{realm}:{password}")
    ha2 = h(f"{method}:{uri}")
    return h(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")


class Servers:
    """One HTTP/1.1 server with every endpoint the tests use; counters under a lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                import socket
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def handle_any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                status, extra, out = outer.route(self.command, self.path, self.headers, body)
                data = out.encode()
                self.send_response(status)
                for k, v in extra:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = handle_any

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def reset(self):
        self.ok = 0
        self.bad = []
        self.token_requests = []  # (grant_type, form, basic credentials)
        self.tokens = set()
        self.token_status = 200
        self.expires_in = 3600
        self.refresh = False
        self.jwt_key, self.jwt_alg, self.jwt_header = JWT_SECRET, "HS256", "Authorization"
        self.subs = set()
        self.nonce = secrets.token_hex(8)
        self.challenges = 0
        self.digest_password = "pw"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def fail(self, why):
        self.bad.append(why)
        return 403, [], why

    def route(self, method, path, headers, body):
        with self.lock:
            if path.startswith("/sigv4"):
                why = verify_sigv4(method, path, headers, body)
                if why:
                    return self.fail(why)
                self.ok += 1
                return 200, [], "ok"
            if path.startswith("/jwt"):
                value = headers.get(self.jwt_header, "")
                if self.jwt_header == "Authorization":
                    if not value.startswith("Bearer "):
                        return self.fail("no bearer token")
                    value = value[7:]
                try:
                    claims = jwt.decode(value, self.jwt_key, algorithms=[self.jwt_alg],
                                        options={"require": ["exp", "iat", "nbf"]})
                except jwt.PyJWTError as e:
                    return self.fail(f"jwt: {e}")
                if claims["exp"] - claims["iat"] != 60 or claims.get("iss") != "loaddensity":
                    return self.fail(f"claims {claims}")
                self.subs.add(claims["sub"])
                self.ok += 1
                return 200, [], "ok"
            if path == "/token":
                form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode()).items()}
                basic = headers.get("Authorization", "")
                creds = base64.b64decode(basic[6:]).decode() if basic.startswith("Basic ") else \
                    f"{form.get('client_id', '')}:{form.get('client_secret', '')}"
                self.token_requests.append((form.get("grant_type"), form, creds))
                if self.token_status != 200:
                    return self.token_status, [], "token endpoint down"
                if creds != f"{CID}:{CSECRET}":
                    return 401, [], '{"error": "invalid_client"}'
                tok = f"tok{len(self.token_requests)}"
                self.tokens.add(tok)
                answer = {"access_token": tok, "token_type": "Bearer",
                          "expires_in": self.expires_in}
                if self.refresh:
                    answer["refresh_token"] = "r" + tok
                return 200, [("Content-Type", "application/json")], json.dumps(answer)
            if path.startswith("/api"):
                auth = headers.get("Authorization", "")
                if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
                    return self.fail(f"unknown token {auth!r}")
                self.ok += 1
                return 200, [], "ok"
            if path.startswith("/digest"):
                algorithm = "SHA-256" if "sha256" in path else "MD5"
                challenge = [("WWW-Authenticate",
                              f'Digest realm="ld", qop="auth", algorithm={algorithm}, '
                              f'nonce="{self.nonce}", opaque="op1"')]
                auth = headers.get("Authorization", "")
                if not auth.startswith("Digest "):
                    self.challenges += 1
                    return 401, challenge, "challenge"
                p = dict(re.findall(r'(\w+)="?([^",]*)"?', auth[7:]))
                expect = digest_response(algorithm, p.get("username"), "ld", self.digest_password,
                                         method, path, self.nonce, p.get("nc"), p.get("cnonce"))
                if (p.get("uri") != path or p.get("nonce") != self.nonce or p.get("qop") != "auth"
                        or p.get("opaque") != "op1" or p.get("response") != expect):
                    self.bad.append("digest response")
                    return 401, challenge, "wrong"
                self.ok += 1
                return 200, [], "ok"
            return 404, [], "no such endpoint"


class AuthTest(Case):
    @classmethod
    def setUpClass(cls):
        cls.srv = Servers()

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def setUp(self):
        super().setUp()
        self.srv.reset()

    def per(self, r, name):
        return r.summary()["per_name"][name]

    def assert_all_verified(self, r, names):
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        self.assertEqual(self.srv.bad, [])
        total = sum(s["per_name"][n]["requests"] for n in names)
        self.assertGreater(total, 5)
        for n in names:
            self.assertEqual(s["per_name"][n]["failures"], 0, (n, s["errors"]))
        self.assertEqual(self.srv.ok, total)  # every request arrived verified

    # ---- SigV4

    def sigv4(self, **kw):
        a = {"type": "sigv4", "access_key": AK, "secret_key": SK, "region": "eu-west-1",
             "service": "execute-api"}
        a.update(kw)
        return a

    def test_sigv4_signatures_verify_with_botocore(self):
        u = self.srv.url
        r = self.run_doc(doc(start_test([
            {"method": "get", "request_url": u + "/sigv4/items?b=2&a=1&c=x%20y", "name": "get",
             "auth": self.sigv4()},
            {"method": "post", "request_url": u + "/sigv4/items/${uuid()}", "name": "post",
             "json": {"id": "${uuid()}", "n": 1}, "auth": self.sigv4(session_token=TOKEN)},
            {"method": "put", "request_url": u + "/sigv4/a b/ü", "name": "put", "data": "x=1",
             "auth": self.sigv4()},
        ], users=2, test_time=2)))
        self.assert_all_verified(r, ["get", "post", "put"])

    def test_sigv4_with_a_wrong_secret_is_refused_by_the_verifier(self):
        r = self.run_doc(doc(start_test([
            {"method": "get", "request_url": self.srv.url + "/sigv4/x", "name": "wrong",
             "auth": self.sigv4(secret_key="not-the-secret")}], users=1, test_time=1)))
        self.assertEqual(r.code, 0, r.err)
        self.assertEqual(self.srv.ok, 0)
        self.assertTrue(self.srv.bad and set(self.srv.bad) == {"signature mismatch"})
        self.assertEqual({e["kind"] for e in r.summary()["errors"]}, {"http_status"})

    def test_sigv4_and_jwt_over_http2(self):
        # The embedded target echoes the headers it got over h2c (/anything); record_bodies keeps
        # them, and the signatures are checked here.
        r = self.run_doc(doc(
            ["LD_start_target"],
            start_test([
                {"method": "post", "request_url": "${target}/anything/s?q=1", "name": "s",
                 "json": {"v": "${uuid()}"}, "auth": self.sigv4(session_token=TOKEN)},
                {"method": "get", "request_url": "${target}/anything/j", "name": "j",
                 "auth": {"type": "jwt", "secret": JWT_SECRET, "lifetime": 60,
                          "claims": {"sub": "${uuid()}", "iss": "loaddensity"}}},
            ], users=1, test_time=1, record_bodies=True,
                user_detail_dict={"user": "async_http_user"}),
            ["LD_generate_json_report", {"json_file_name": "bodies"}]))
        self.assertEqual(r.code, 0, r.err)
        with open(os.path.join(self.workdir, "bodies_success.json")) as f:
            records = list(json.load(f).values())
        seen = {"s": 0, "j": 0}
        for e in records:
            echo = json.loads(e["text"])
            h = {k.lower(): v for k, v in echo["headers"].items()}
            if e["name"] == "s":
                path = urllib.parse.urlsplit(echo["url"])
                target = path.path + ("?" + path.query if path.query else "")
                hh = CI(h)
                why = verify_sigv4("POST", target, hh, echo["data"].encode())
                self.assertIsNone(why, (why, echo))
            else:
                claims = jwt.decode(h["authorization"][7:], JWT_SECRET, algorithms=["HS256"])
                self.assertEqual(claims["iss"], "loaddensity")
            seen[e["name"]] += 1
        self.assertGreater(seen["s"], 0)
        self.assertGreater(seen["j"], 0)

    # ---- JWT

    def jwt_task(self, **kw):
        a = {"type": "jwt", "lifetime": 60, "claims": {"sub": "${uuid()}", "iss": "loaddensity"}}
        a.update(kw)
        return {"method": "get", "request_url": self.srv.url + "/jwt", "name": "jwt", "auth": a}

    def test_jwt_hs256_claims_render_per_request(self):
        r = self.run_doc(doc(start_test([self.jwt_task(secret=JWT_SECRET)], users=2,
                                        test_time=1)))
        self.assert_all_verified(r, ["jwt"])
        self.assertEqual(len(self.srv.subs), self.srv.ok)  # a new sub (and signature) each time

    def test_jwt_rs256_es256_and_a_named_header(self):
        keys = {}
        for alg, args in (("RS256", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]),
                          ("ES256", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"])):
            priv = os.path.join(self.workdir, alg + ".pem")
            subprocess.run(["openssl", "genpkey", *args, "-out", priv], check=True,
                           capture_output=True, timeout=60)
            pub = subprocess.run(["openssl", "pkey", "-in", priv, "-pubout"], check=True,
                                 capture_output=True, text=True, timeout=60).stdout
            keys[alg] = (priv, pub)
        for alg, header in (("RS256", "Authorization"), ("ES256", "X-Token")):
            with self.subTest(alg=alg):
                self.srv.reset()
                self.srv.jwt_key, self.srv.jwt_alg, self.srv.jwt_header = keys[alg][1], alg, header
                extra = {} if header == "Authorization" else {"header": header}
                r = self.run_doc(doc(start_test(
                    [self.jwt_task(algorithm=alg, key_file=keys[alg][0], **extra)], users=1,
                    test_time=1)))
                self.assert_all_verified(r, ["jwt"])

    def test_bad_jwt_and_sigv4_settings_are_bad_input(self):
        for auth, pointer in (({"type": "jwt", "secret": "s", "algorithm": "none"}, "algorithm"),
                              ({"type": "jwt", "algorithm": "RS256", "key": "junk"}, "key"),
                              ({"type": "sigv4", "access_key": "a"}, "secret_key"),
                              ({"type": "oauth2", "token_url": "ftp://x"}, "token_url"),
                              ({"type": "kerberos"}, "type")):
            with self.subTest(auth=auth):
                r = self.run_doc(doc(start_test([{"method": "get", "request_url": self.srv.url,
                                                  "auth": auth}])))
                self.assertEqual(r.code, 2, r.err)
                self.assertIn("/auth/" + pointer, r.err)
        r = self.run_doc(doc(start_test([{"method": "get", "request_url": self.srv.url,
                                          "auth": {"type": "digest", "username": "u"}}],
                                        user_detail_dict={"user": "async_http_user"})))
        self.assertEqual(r.code, 2, r.err)
        self.assertIn("/auth/password", r.err)

    # ---- OAuth2

    def oauth(self, **kw):
        a = {"type": "oauth2", "token_url": self.srv.url + "/token", "client_id": CID,
             "client_secret": CSECRET, "scope": "read write"}
        a.update(kw)
        return a

    def api_tasks(self, auth):
        return [{"method": "get", "request_url": self.srv.url + "/api/a", "name": "a",
                 "auth": auth},
                {"method": "post", "request_url": self.srv.url + "/api/b", "name": "b",
                 "json": {"x": 1}, "auth": auth}]

    def test_oauth2_token_is_fetched_once_per_run_and_recorded(self):
        r = self.run_doc(doc(start_test(self.api_tasks(self.oauth()), users=4, test_time=2)))
        self.assert_all_verified(r, ["a", "b"])
        self.assertEqual(len(self.srv.token_requests), 1, self.srv.token_requests)
        grant, form, _ = self.srv.token_requests[0]
        self.assertEqual((grant, form.get("scope")), ("client_credentials", "read write"))
        self.assertNotIn("client_secret", form)  # in the Basic header by default
        self.assertEqual(self.per(r, "oauth2 token")["requests"], 1)

    def test_oauth2_per_user_and_credentials_in_the_body(self):
        r = self.run_doc(doc(start_test(
            self.api_tasks(self.oauth(per_user=True, credentials="body", name="login")), users=3,
            test_time=2)))
        self.assert_all_verified(r, ["a", "b"])
        self.assertEqual(len(self.srv.token_requests), 3)
        self.assertTrue(all(f.get("client_secret") == CSECRET for _, f, _ in self.srv.token_requests))
        self.assertEqual(self.per(r, "login")["requests"], 3)

    def test_oauth2_password_grant_refreshes_before_expiry(self):
        self.srv.expires_in = 2  # refreshed 1 s after each fetch (half its lifetime)
        self.srv.refresh = True
        r = self.run_doc(doc(start_test(
            self.api_tasks(self.oauth(grant="password", username="ann", password="pw")),
            users=2, test_time=4)))
        self.assert_all_verified(r, ["a", "b"])
        grants = [g for g, _, _ in self.srv.token_requests]
        self.assertEqual(grants[0], "password")
        self.assertGreaterEqual(len(grants), 2, grants)
        self.assertIn("refresh_token", grants[1:])
        self.assertEqual(self.srv.token_requests[0][1]["username"], "ann")

    def test_a_failed_token_request_fails_its_tasks_with_kind_auth(self):
        self.srv.token_status = 500
        r = self.run_doc(doc(start_test(self.api_tasks(self.oauth()), users=2, test_time=2)))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        kinds = {(e["name"], e["kind"]) for e in s["errors"]}
        self.assertEqual(kinds, {("oauth2 token", "http_status"), ("a", "auth"), ("b", "auth")})
        self.assertEqual(s["per_name"]["a"]["failures"], s["per_name"]["a"]["requests"])
        # Retried about once a second, not per request.
        self.assertLessEqual(len(self.srv.token_requests), 4)
        self.assertGreater(s["per_name"]["a"]["requests"], len(self.srv.token_requests))
        self.assertEqual(self.srv.ok, 0)

    # ---- Digest

    def test_digest_md5_and_sha256_answer_one_challenge_per_user(self):
        u = self.srv.url
        auth = {"type": "digest", "username": "ann", "password": "pw"}
        r = self.run_doc(doc(start_test([
            {"method": "get", "request_url": u + "/digest/md5?x=1", "name": "md5", "auth": auth},
            {"method": "post", "request_url": u + "/digest/sha256", "name": "sha256",
             "data": "hello", "auth": auth},
        ], users=2, test_time=2)))
        self.assert_all_verified(r, ["md5", "sha256"])
        # The first request of each user and task draws a challenge; later ones count nc up.
        self.assertEqual(self.srv.challenges, 4)

    def test_digest_with_a_wrong_password_fails_once_per_request(self):
        self.srv.digest_password = "other"
        r = self.run_doc(doc(start_test([
            {"method": "get", "request_url": self.srv.url + "/digest/md5", "name": "d",
             "auth": {"type": "digest", "username": "ann", "password": "pw"}}],
            users=1, test_time=1)))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        self.assertEqual({(e["kind"]) for e in s["errors"]}, {"http_status"})
        self.assertEqual(self.srv.ok, 0)

    def test_digest_over_http2(self):
        # nginx (h2c) in front of httpbin's digest-auth: a 401 with the challenge, then the
        # answer on the same stream's retry; httpbin checks the response hash.
        u = os.environ["LD_NGINX_H2C_URL"] + "/digest-auth/auth/ann/pw/MD5"
        r = self.run_doc(doc(start_test([
            {"method": "get", "request_url": u, "name": "d",
             "auth": {"type": "digest", "username": "ann", "password": "pw"}}],
            users=1, test_time=1, user_detail_dict={"user": "async_http_user"})))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        self.assertGreater(s["per_name"]["d"]["requests"], 1)
        self.assertEqual(s["totals"]["failures"], 0, s.get("errors"))

    # ---- Commands

    def test_commands_sign_decode_and_fetch(self):
        u = self.srv.url
        # The control socket answers with each action's whole result, one JSON line each.
        server = Server(cwd=self.workdir)
        self.addCleanup(server.kill)
        results = legacy_lines(server.ask(json.dumps([
            ["LD_sign_jwt", {"payload": {"sub": "x"}, "secret": "k", "algorithm": "HS384",
                             "expires_in_seconds": 30}],
            ["LD_decode_jwt", {"token": jwt.encode({"a": 1}, "k", algorithm="HS256"),
                               "key": "k"}],
            ["LD_sign_aws_request", {"method": "POST", "url": u + "/sigv4/cmd?z=1&a=2",
                                     "body": "{}", "region": "us-east-1", "service": "s3x",
                                     "access_key": AK, "secret_key": SK,
                                     "headers": {"Content-Type": "application/json"}}],
            ["LD_fetch_client_credentials_token", {"token_url": u + "/token", "client_id": CID,
                                                   "client_secret": CSECRET}],
            ["LD_fetch_password_token", {"token_url": u + "/token", "client_id": CID,
                                         "client_secret": CSECRET, "username": "a",
                                         "password": "b"}],
            ["LD_refresh_token", {"token_url": u + "/token", "client_id": CID,
                                  "client_secret": CSECRET, "refresh_token": "r1"}],
        ]).encode()))
        self.assertEqual(len(results), 6, results)
        claims = jwt.decode(results[0]["token"], "k", algorithms=["HS384"])
        self.assertEqual(claims["sub"], "x")
        self.assertIn("exp", claims)
        self.assertEqual(results[1]["payload"], {"a": 1})
        self.assertTrue(results[1]["verified"])
        headers = results[2]
        self.assertIsNone(verify_sigv4("POST", "/sigv4/cmd?z=1&a=2",
                                       CI(headers), b"{}"))
        self.assertEqual([g for g, _, _ in self.srv.token_requests],
                         ["client_credentials", "password", "refresh_token"])
        self.assertEqual(results[3]["access_token"], "tok1")
        self.assertEqual(results[5]["access_token"], "tok3")


if __name__ == "__main__":
    unittest.main()
