"""sql_user over TLS: a MariaDB server started here (temp data dir, free port) with a test CA's
server certificate and require_secure_transport=ON. A TLS connection (?ssl=true, ?sslmode=,
?ssl_ca=, ?ssl_verify_cert=, a client certificate) works and the server reports a cipher for
it; the wrong CA fails as kind tls; a plain connection is refused by the server. PostgreSQL's
sslmode=require against the plain server of tests/servers.sh is a tls failure too."""
import os
import subprocess
import tempfile
import time
import unittest

from ldtest import Case, doc, free_port

# The session's cipher as a row: {"cipher": "TLS_AES_..."} (empty without TLS).
CIPHER_SQL = ("SELECT VARIABLE_VALUE AS cipher FROM information_schema.SESSION_STATUS "
              "WHERE VARIABLE_NAME = 'Ssl_cipher'")


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certs(d):
    """A CA, a server certificate for 127.0.0.1 and a client certificate signed by it, and an
    unrelated self-signed CA."""
    for name, subject in [("ca", "/CN=loaddensity test CA"), ("other", "/CN=another CA")]:
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", subject,
                "-keyout", f"{name}-key.pem", "-out", f"{name}.pem", cwd=d)
    with open(os.path.join(d, "server.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    for name, subject, ext in [("server", "/CN=127.0.0.1", ["-extfile", "server.ext"]),
                               ("client", "/CN=ldx", [])]:
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject,
                "-keyout", f"{name}-key.pem", "-out", f"{name}.csr", cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
                "-CAcreateserial", "-days", "1", *ext, "-out", f"{name}.pem", cwd=d)


class MariadbTlsTest(Case):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="ld-sql-tls-")
        d = cls.dir = cls.tmp.name
        os.chmod(d, 0o755)
        make_certs(d)
        user = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
        subprocess.run(["mariadb-install-db", "--no-defaults", f"--user={user}",
                        "--auth-root-authentication-method=normal", "--skip-test-db",
                        f"--datadir={d}/data"], check=True, capture_output=True, timeout=120)
        cls.port = free_port()
        cls.sock = os.path.join(d, "mysqld.sock")
        cls.server = subprocess.Popen(
            ["mariadbd", "--no-defaults", f"--user={user}", f"--datadir={d}/data",
             f"--port={cls.port}", "--bind-address=127.0.0.1", f"--socket={cls.sock}",
             f"--pid-file={d}/mysqld.pid", f"--log-error={d}/error.log", "--skip-name-resolve",
             "--skip-log-bin", "--innodb-buffer-pool-size=16M", "--innodb-log-file-size=16M",
             f"--ssl-ca={d}/ca.pem", f"--ssl-cert={d}/server.pem", f"--ssl-key={d}/server-key.pem",
             "--require-secure-transport=ON"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            cls.root("SELECT 1", wait=True)
            # ld: any TLS connection; ldx: only with a client certificate from the CA.
            cls.root("CREATE DATABASE ld; CREATE USER 'ld'@'%' IDENTIFIED BY 'ldpass'; "
                     "GRANT ALL ON ld.* TO 'ld'@'%'; "
                     "CREATE USER 'ldx'@'%' IDENTIFIED BY 'ldxpass' REQUIRE X509; "
                     "GRANT ALL ON ld.* TO 'ldx'@'%';")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.server.kill()  # throwaway data: no clean shutdown needed
        cls.server.wait(timeout=30)
        cls.tmp.cleanup()

    @classmethod
    def root(cls, sql, wait=False):
        """Runs `sql` as root over the socket file (a secure transport for the server)."""
        deadline = time.monotonic() + 60
        while True:
            p = subprocess.run(["mariadb", "--no-defaults", "-uroot", "-S", cls.sock, "-N", "-B",
                                "-e", sql], capture_output=True, text=True, timeout=30)
            if p.returncode == 0 or not wait or time.monotonic() > deadline:
                break
            if cls.server.poll() is not None:
                raise RuntimeError("mariadbd exited: " + open(f"{cls.dir}/error.log").read())
            time.sleep(0.2)
        if p.returncode != 0:
            raise RuntimeError(p.stderr)
        return p.stdout.strip()

    def url(self, query="", user="ld:ldpass"):
        return f"mysql://{user}@127.0.0.1:{self.port}/ld{query}"

    def run_sql(self, conn, tasks=None):
        tasks = tasks or [{
            "sql": CIPHER_SQL, "expect_rows": 1, "name": "cipher",
            "assertions": [{"type": "not_contains", "value": '"cipher":""'}],
            "extract": [{"var": "cipher", "path": "cipher"}]}]
        r = self.run_doc(doc(["LD_start_test", {
            "user_detail_dict": {"user": "sql_user"}, "user_count": 2, "spawn_rate": 1000,
            "test_time": 1, "connection_string": conn, "tasks": tasks}]))
        self.assertEqual(r.code, 0, r.err + r.out)
        s = r.summary()
        self.assertGreater(s["totals"]["requests"], 0)
        return s

    def assert_tls_works(self, query, user="ld:ldpass"):
        s = self.run_sql(self.url(query, user))
        self.assertEqual(s["totals"]["failures"], 0, (query, s["errors"]))

    def test_tls_connections_work_and_the_server_sees_tls(self):
        d = self.dir
        for query in ["?ssl=true", "?sslmode=require", "?ssl_mode=REQUIRED",
                      f"?ssl_ca={d}/ca.pem",                          # verify-ca
                      f"?sslmode=verify-ca&ssl_ca={d}/ca.pem",
                      f"?ssl_ca={d}/ca.pem&ssl_verify_cert=true",     # verify-full
                      f"?ssl_mode=VERIFY_IDENTITY&ssl_ca={d}/ca.pem"]:
            with self.subTest(query=query):
                self.assert_tls_works(query)
        # The server's own view, from a second statement on the same connection.
        s = self.run_sql(self.url("?ssl=true"), [
            {"sql": "SHOW SESSION STATUS LIKE 'Ssl_version'", "expect_rows": 1,
             "assertions": [{"type": "contains", "value": '"Value":"TLSv1.'}]}])
        self.assertEqual(s["totals"]["failures"], 0, s["errors"])

    def test_client_certificate(self):
        d = self.dir
        self.assert_tls_works(f"?ssl_ca={d}/ca.pem&ssl_cert={d}/client.pem"
                              f"&ssl_key={d}/client-key.pem", user="ldx:ldxpass")
        # Without it the server refuses ldx's login.
        s = self.run_sql(self.url("?ssl=true", user="ldx:ldxpass"))
        self.assertEqual(s["totals"]["failures"], s["totals"]["requests"])
        self.assertEqual(set(s["errors_by_kind"]), {"connect"}, s["errors"])
        self.assertTrue(s["errors"][0]["message"].startswith("28000 Access denied"), s["errors"])

    def test_wrong_ca_fails_as_tls(self):
        d = self.dir
        for query in [f"?ssl_ca={d}/other.pem", f"?sslmode=verify-full&ssl_ca={d}/other.pem"]:
            with self.subTest(query=query):
                s = self.run_sql(self.url(query))
                self.assertEqual(s["totals"]["failures"], s["totals"]["requests"])
                self.assertEqual(set(s["errors_by_kind"]), {"tls"}, s["errors"])
                self.assertIn("certificate", s["errors"][0]["message"])

    def test_plain_connection_is_refused_by_the_server(self):
        for query in ["", "?ssl=false", "?sslmode=disable"]:
            with self.subTest(query=query):
                s = self.run_sql(self.url(query))
                self.assertEqual(s["totals"]["failures"], s["totals"]["requests"])
                self.assertEqual(set(s["errors_by_kind"]), {"connect"}, s["errors"])
                message = s["errors"][0]["message"]
                # MariaDB answers require_secure_transport with "Access denied"; the message
                # says the connection was plain.
                self.assertTrue(message.startswith("28000 Access denied for user 'ld'"), message)
                self.assertIn("a plain connection: if the server requires TLS, add ?ssl=true",
                              message)

    def test_bad_tls_options_exit_2(self):
        for query, needle in [
            ("?ssl=maybe", "ssl='maybe' (true or false)"),
            ("?sslmode=prefer", "either requires TLS"),
            ("?sslmode=verify-ca", "names no CA"),
            ("?ssl_verify_cert=true", "names no CA"),
            ("?ssl=false&ssl_ca=/x.pem", "TLS options with TLS turned off"),
            ("?ssl=true&ssl_cert=/x.pem", "needs both ssl_cert and ssl_key"),
            ("?ssl=true&sslmode=disable", "asks for TLS twice"),
            ("?sslrootcert=/x.pem", "does not understand"),
        ]:
            with self.subTest(query=query):
                r = self.run_doc(doc(["LD_start_test", {
                    "user_detail_dict": {"user": "sql_user"}, "user_count": 1, "test_time": 1,
                    "connection_string": self.url(query), "tasks": [{"sql": "SELECT 1"}]}]))
                self.assertEqual(r.code, 2, r.err + r.out)
                self.assertIn(needle, r.err)
                self.assertIn("/connection_string", r.err)
                self.assertFalse(r.exists("summary.json"))


class PostgresTlsTest(Case):
    def test_sslmode_require_against_a_plain_server_fails_as_tls(self):
        url = self.need_env("LD_PG_URL")
        r = self.run_doc(doc(["LD_start_test", {
            "user_detail_dict": {"user": "sql_user"}, "user_count": 1, "spawn_rate": 10,
            "test_time": 1, "connection_string": url + "?sslmode=require",
            "tasks": [{"sql": "SELECT 1"}]}]))
        self.assertEqual(r.code, 0, r.err + r.out)
        s = r.summary()
        self.assertGreater(s["totals"]["failures"], 0)
        self.assertEqual(set(s["errors_by_kind"]), {"tls"}, s["errors"])
        self.assertIn("server does not support SSL, but SSL was required",
                      s["errors"][0]["message"])


if __name__ == "__main__":
    unittest.main()
