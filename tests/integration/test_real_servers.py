"""The HTTP/1.1 user against real servers started by tests/servers.sh: nginx and httpbin."""
from ldtest import Case, doc, start_test


class NginxTest(Case):
    def test_counts_against_nginx(self):
        url = self.need_env("LD_NGINX_URL")
        r = self.run_doc(doc(start_test([
            {"method": "get", "request_url": url + "/hello", "name": "hello"},
            {"method": "get", "request_url": url + "/fail", "name": "fail"},
            {"method": "head", "request_url": url + "/hello", "name": "head"},
            {"method": "get", "request_url": url + "/close", "name": "close"},
        ], users=8, test_time=2)))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        per = s["per_name"]
        self.assertGreater(per["hello"]["requests"], 100)
        self.assertEqual(per["hello"]["failures"], 0)
        self.assertEqual(per["head"]["failures"], 0)
        self.assertEqual(per["close"]["failures"], 0, "Connection: close reconnects cleanly")
        self.assertEqual(per["fail"]["failures"], per["fail"]["requests"])
        self.assertEqual(s["errors_by_kind"], {"http_status": per["fail"]["requests"]})
        # Each user runs the four tasks in order: per-name counts agree within one per user.
        counts = [per[n]["requests"] for n in ("hello", "fail", "head", "close")]
        self.assertLessEqual(max(counts) - min(counts), 8)
        # nginx answers "hello, world\n" (13 bytes) plus headers for every hello request.
        self.assertGreater(per["hello"]["bytes_received"], 13 * per["hello"]["requests"])

    def test_tls_verification(self):
        url = self.need_env("LD_NGINX_TLS_URL")
        ca = self.need_env("LD_NGINX_TLS_CA")
        r = self.run_doc(doc(start_test([
            {"method": "get", "request_url": url + "/", "name": "noverify", "verify": False},
            {"method": "get", "request_url": url + "/", "name": "strict"},
            {"method": "get", "request_url": url.replace("127.0.0.1", "localhost") + "/",
             "name": "ca", "verify": ca},
        ], users=2, test_time=1)))
        self.assertEqual(r.code, 0, r.err)
        per = r.summary()["per_name"]
        self.assertGreater(per["noverify"]["requests"], 0)
        self.assertEqual(per["noverify"]["failures"], 0)
        self.assertEqual(per["strict"]["failures"], per["strict"]["requests"],
                         "a self-signed certificate fails verification by default")
        self.assertEqual(per["ca"]["failures"], 0, "verify with the CA bundle succeeds")
        s = r.summary()
        self.assertGreater(s["errors_by_kind"]["tls"], 0)

    def test_client_certificate(self):
        url = self.need_env("LD_NGINX_MTLS_URL")
        cert, key = self.need_env("LD_CLIENT_CERT"), self.need_env("LD_CLIENT_KEY")
        r = self.run_doc(doc(start_test([
            {"method": "get", "request_url": url + "/", "name": "mtls", "verify": False,
             "cert": [cert, key]},
            {"method": "get", "request_url": url + "/", "name": "nocert", "verify": False},
        ], users=2, test_time=1)))
        self.assertEqual(r.code, 0, r.err)
        per = r.summary()["per_name"]
        self.assertGreater(per["mtls"]["requests"], 0)
        self.assertEqual(per["mtls"]["failures"], 0)
        self.assertEqual(per["nocert"]["failures"], per["nocert"]["requests"],
                         "nginx answers 400 without a client certificate")

    def test_bad_client_certificate_path_is_bad_input(self):
        url = self.need_env("LD_NGINX_MTLS_URL")
        r = self.run_doc(doc(start_test([
            {"method": "get", "request_url": url + "/", "cert": "/nonexistent/c.pem"}])))
        self.assertEqual(r.code, 2, r.err)
        self.assertIn("cannot load client certificate '/nonexistent/c.pem'", r.err)
        self.assertIn("/tasks/0/cert", r.err)


class HttpbinTest(Case):
    def test_bodies_auth_and_redirects(self):
        url = self.need_env("LD_HTTPBIN_URL")
        r = self.run_doc(doc(start_test([
            {"method": "post", "request_url": url + "/post", "json": {"a": 1}, "name": "json"},
            {"method": "post", "request_url": url + "/post", "data": {"f": "v w"}, "name": "form"},
            {"method": "put", "request_url": url + "/put", "data": "raw", "name": "put"},
            {"method": "get", "request_url": url + "/basic-auth/u/p", "name": "basic",
             "auth": {"type": "basic", "username": "u", "password": "p"}},
            {"method": "get", "request_url": url + "/bearer", "name": "bearer",
             "auth": {"type": "bearer", "token": "t0k"}},
            {"method": "get", "request_url": url + "/bearer", "name": "noauth"},
            {"method": "get", "request_url": url + "/redirect/2", "name": "redirect"},
            {"method": "get", "request_url": url + "/redirect/1", "name": "noredirect",
             "allow_redirects": False},
            {"method": "get", "request_url": url + "/get", "name": "params",
             "params": {"q": "a b", "n": [1, 2]}, "headers": {"X-Test": "1"},
             "cookies": {"c": "v"}},
            {"method": "get", "request_url": url + "/gzip", "name": "gzip"},
            {"method": "get", "request_url": url + "/stream/3", "name": "chunked"},
        ], users=2, test_time=2)))
        self.assertEqual(r.code, 0, r.err)
        per = r.summary()["per_name"]
        for name in ["json", "form", "put", "basic", "bearer", "redirect", "noredirect",
                     "params", "gzip", "chunked"]:
            self.assertGreater(per[name]["requests"], 0, name)
            self.assertEqual(per[name]["failures"], 0, name)
        self.assertEqual(per["noauth"]["failures"], per["noauth"]["requests"])
