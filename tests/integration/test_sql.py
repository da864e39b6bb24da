"""sql_user against the PostgreSQL and MariaDB servers tests/servers.sh starts (libpq and
libmariadb, non-blocking on the worker) and SQLite files in the test's temp dir (the offload
pool): bound parameters rendered per request, expect_rows, json_path assertions on the rows,
extract from the first row, server errors as sql_error with their SQLSTATE, reconnecting after a
lost connection, timeouts, refused connections and bad input."""
import os
import socket
import sqlite3
import subprocess
import urllib.parse
import uuid

from ldtest import Case, doc, free_port


def sql_test(tasks, conn, users=2, test_time=2, **kw):
    args = {"user_detail_dict": {"user": "sql_user"}, "user_count": users, "spawn_rate": 1000,
            "test_time": test_time, "tasks": tasks, "connection_string": conn}
    args.update(kw)
    return ["LD_start_test", args]


class ServerCase(Case):
    """A test against a SQL server (URL in the environment variable URL_ENV): a fresh table of
    COLUMNS per test, dropped after it; cli(sql) runs SQL through the server's own client."""
    URL_ENV = COLUMNS = ""

    def setUp(self):
        super().setUp()
        self.url = self.need_env(self.URL_ENV)
        self.table = "t_" + uuid.uuid4().hex[:12]
        self.cli(f"CREATE TABLE {self.table} ({self.COLUMNS})")
        self.addCleanup(lambda: self.cli(f"DROP TABLE IF EXISTS {self.table}"))

    def run_cli(self, argv):
        p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout.strip()

    def run_ok(self, *actions):
        r = self.run_doc(doc(*actions))
        self.assertEqual(r.code, 0, r.err + r.out)
        return r.summary()

    def check_passed(self, s, names):
        """Every task of `names` ran more than 5 times and passed; the task "expect one" failed
        its expect_rows every time. Returns the per-name results."""
        per = s["per_name"]
        for name in names:
            self.assertEqual(per[name]["failures"], 0, (name, s["errors"]))
            self.assertGreater(per[name]["requests"], 5, name)
            self.assertEqual(per[name]["request_type"], "SQL")
        self.assertEqual(per["expect one"]["failures"], per["expect one"]["requests"])
        self.assertEqual(set(s["errors_by_kind"]), {"assertion"})
        self.assertEqual({e["message"] for e in s["errors"]}, {"expect_rows failed: expected 1 row"})
        return per

    def check_bound(self, insert_sql, evil, count_sql):
        """`evil` goes in as a bound value: inserted as data, the table still there."""
        s = self.run_ok(sql_test([
            {"sql": insert_sql, "params": [evil, "${uuid()}"], "name": "insert"},
        ], self.url, users=1, test_time=1))
        self.assertEqual(s["totals"]["failures"], 0, s["errors"])
        self.assertGreater(int(self.cli(count_sql)), 0)

    def check_reconnects(self, insert_sql, kill_sql):
        """Each iteration's second task ends its own connection; the next insert reconnects."""
        s = self.run_ok(sql_test([
            {"sql": insert_sql, "params": ["${uuid()}"], "expect_rows": 1, "name": "insert"},
            {"sql": kill_sql, "name": "kill self"},
        ], self.url, users=1, test_time=2))
        per = s["per_name"]
        self.assertEqual(per["insert"]["failures"], 0, s["errors"])
        self.assertGreater(per["insert"]["requests"], 3)
        self.assertEqual(per["kill self"]["failures"], per["kill self"]["requests"])
        self.assertEqual(int(self.cli(f"SELECT count(*) FROM {self.table}")),
                         per["insert"]["requests"])
        return s

    def check_timeout(self, slow_sql):
        """A statement past its timeout fails as timeout; the next task reconnects."""
        s = self.run_ok(sql_test([
            {"sql": slow_sql, "timeout": 0.3, "name": "slow"},
            {"sql": "SELECT 1", "name": "after", "expect_rows": 1},
        ], self.url, users=1, test_time=1))
        per = s["per_name"]
        self.assertEqual(per["slow"]["failures"], per["slow"]["requests"])
        self.assertEqual(per["after"]["failures"], 0)
        self.assertEqual(set(s["errors_by_kind"]), {"timeout"})


class PostgresTest(ServerCase):
    URL_ENV = "LD_PG_URL"
    COLUMNS = "id text PRIMARY KEY, n integer, doc jsonb"

    def cli(self, sql):
        return self.run_cli(["psql", self.url, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql])

    psql = cli

    def test_bound_params_rows_assertions_and_extract(self):
        t = self.table
        s = self.run_ok(sql_test([
            {"sql": f"INSERT INTO {t} (id, n, doc) VALUES ($1, $2, $3)",
             "params": ["${uuid()}", 7, {"k": "v"}], "expect_rows": 1, "name": "insert"},
            {"sql": f"INSERT INTO {t} (id, n) VALUES (:id, :n) -- :not_a_param",
             "params": {"id": "named-${uuid()}", "n": None}, "expect_rows": 1,
             "name": "insert named"},
            {"sql": f"SELECT id, n, doc, n::text AS n_text, true AS yes FROM {t} "
                    "WHERE n = $1 ORDER BY id LIMIT 1",
             "params": [7], "expect_rows": 1, "name": "select",
             "assertions": [{"type": "json_path", "path": "$[0].n", "value": 7},
                            {"type": "json_path", "path": "$[0].doc.k", "value": "v"},
                            {"type": "json_path", "path": "$[0].yes", "value": True},
                            {"type": "json_path", "path": "$[0].n_text", "value": "7"}],
             "extract": [{"var": "picked", "path": "id"}]},
            {"sql": f"UPDATE {t} SET n = 8 WHERE id = $1", "params": ["${picked}"],
             "expect_rows": 1, "name": "update extracted"},
            {"sql": f"SELECT id FROM {t} WHERE id = 'no such id'", "expect_rows": 1,
             "name": "expect one"},
        ], self.url))
        per = self.check_passed(s, ["insert", "insert named", "select", "update extracted"])
        # ${uuid()} rendered per request: every insert made its own row.
        self.assertEqual(int(self.psql(f"SELECT count(*) FROM {t} WHERE id NOT LIKE 'named-%'")),
                         per["insert"]["requests"])
        self.assertEqual(int(self.psql(f"SELECT count(DISTINCT id) FROM {t} WHERE id LIKE 'named-%'")),
                         per["insert named"]["requests"])
        self.assertEqual(self.psql(f"SELECT count(*) FROM {t} WHERE id LIKE 'named-%' AND n IS NOT NULL"), "0")
        self.assertGreater(int(self.psql(f"SELECT count(*) FROM {t} WHERE n = 8")), 0)

    def test_values_are_bound_not_spliced(self):
        t = self.table
        self.check_bound(f"INSERT INTO {t} (id) VALUES ($1 || $2)", "x'); DROP TABLE " + t + "; --",
                         f"SELECT count(*) FROM {t} WHERE id LIKE 'x'')%'")

    def test_server_errors_are_sql_errors_with_sqlstate(self):
        s = self.run_ok(sql_test([
            {"sql": "SELEC 1", "name": "syntax"},
            {"sql": "SELECT * FROM no_such_table_here", "name": "missing table"},
            {"sql": f"INSERT INTO {self.table} (id) VALUES ('same')", "name": "duplicate"},
            {"sql": "SELECT 1", "expect_rows": 1, "name": "still fine"},
        ], self.url, users=1, test_time=1))
        per = s["per_name"]
        self.assertEqual(per["syntax"]["failures"], per["syntax"]["requests"])
        self.assertEqual(per["missing table"]["failures"], per["missing table"]["requests"])
        self.assertEqual(per["duplicate"]["failures"], per["duplicate"]["requests"] - 1)
        self.assertEqual(per["still fine"]["failures"], 0)
        self.assertEqual(set(s["errors_by_kind"]), {"sql_error"})
        messages = {e["name"]: e["message"] for e in s["errors"]}
        self.assertTrue(messages["syntax"].startswith("42601 syntax error"), messages)
        self.assertTrue(messages["missing table"].startswith("42P01 "), messages)
        self.assertTrue(messages["duplicate"].startswith("23505 "), messages)

    def test_large_parameters_and_results_with_many_users_on_one_worker(self):
        # 3 MB parameters fill the socket's send buffer (the send waits for writability) and
        # 2 MB results arrive over many reads; 30 users share the worker's set of connections.
        big = "y" * 3_000_000
        s = self.run_ok(sql_test([
            {"sql": "SELECT length($1::text) AS n, repeat('x', 2000000) AS big", "params": [big],
             "expect_rows": 1, "name": "large",
             "assertions": [{"type": "json_path", "path": "$[0].n", "value": 3000000},
                            {"type": "contains", "value": "x" * 1000}]},
            {"sql": "SELECT $1::int + 1 AS next", "params": ["${randint(1,1000)}"],
             "expect_rows": 1, "name": "small"},
        ], self.url, users=30, test_time=3, threads=1))
        per = s["per_name"]
        self.assertEqual(s["totals"]["failures"], 0, s["errors"])
        self.assertGreater(per["large"]["requests"], 0)
        self.assertGreater(per["small"]["requests"], 0)

    def test_lost_connection_reconnects_on_the_next_task(self):
        self.check_reconnects(f"INSERT INTO {self.table} (id) VALUES ($1)",
                              "SELECT pg_terminate_backend(pg_backend_pid())")

    def test_refused_and_timeout(self):
        s = self.run_ok(sql_test([{"sql": "SELECT 1"}],
                                 f"postgresql://postgres@127.0.0.1:{free_port()}/x",
                                 users=1, test_time=1))
        self.assertGreater(s["totals"]["failures"], 0)
        self.assertEqual(set(s["errors_by_kind"]), {"refused"})
        self.check_timeout("SELECT pg_sleep(5)")

    def test_bad_input_exits_2_before_anything_runs(self):
        for task, conn, needle in [
            ({"name": "no sql"}, self.url, "/tasks/0/sql"),
            ({"sql": "SELECT 1", "params": [{"a": 1}], "nmae": "x"}, self.url, "did you mean 'name'"),
            ({"sql": "SELECT 1", "params": "x"}, self.url, "/tasks/0/params"),
            ({"sql": "SELECT :a", "params": {"b": 1}}, self.url, "/tasks/0/params"),
            ({"sql": "SELECT 1", "expect_rows": -1}, self.url, "/tasks/0/expect_rows"),
            ({"sql": "SELECT 1"}, "oracle://x", "/connection_string"),
        ]:
            with self.subTest(task=task, conn=conn):
                r = self.run_doc(doc(sql_test([task], conn)))
                self.assertEqual(r.code, 2, r.err + r.out)
                self.assertIn(needle, r.err)
                self.assertFalse(r.exists("summary.json"))
        # The SQL is prepared once per connection: a per-request placeholder in it is refused
        # when the test compiles (exit 2, no request made).
        r = self.run_doc(doc(sql_test([{"sql": "SELECT '${uuid()}'"}], self.url)))
        self.assertEqual(r.code, 2, r.err + r.out)
        self.assertIn("/tasks/0/sql", r.err + r.out)
        self.assertIn("put per-request values in 'params'", r.err + r.out)


class MariadbTest(ServerCase):
    URL_ENV = "LD_MARIADB_URL"
    COLUMNS = "id varchar(200) PRIMARY KEY, n int, x double, d decimal(6,2), doc json, note text"

    def cli(self, sql):
        u = urllib.parse.urlsplit(self.url)
        return self.run_cli(["mariadb", "--no-defaults", "-h", u.hostname, "-P", str(u.port),
                             "-u", u.username, "-p" + u.password, u.path.lstrip("/"),
                             "-N", "-B", "-e", sql])

    mysql = cli

    def test_bound_params_rows_assertions_and_extract(self):
        t = self.table
        s = self.run_ok(sql_test([
            {"sql": f"INSERT INTO {t} (id, n, x, d, doc) VALUES (?, ?, ?, ?, ?)",
             "params": ["${uuid()}", 7, 1.5, "2.50", {"k": "v"}], "expect_rows": 1,
             "name": "insert"},
            {"sql": f"INSERT INTO {t} (id, n) VALUES (:id, :n) -- :not_a_param\n# :nor_this",
             "params": {"id": "named-${uuid()}", "n": None}, "expect_rows": 1,
             "name": "insert named"},
            {"sql": f"INSERT INTO {t} (id, n, note) VALUES (CONCAT('dollar-', $2), $1, $2)",
             "params": [9, "${uuid()}"], "expect_rows": 1, "name": "insert dollar"},
            {"sql": f"SELECT id, n, x, d, doc, note, CAST(n AS CHAR) AS n_text, n > 1 AS yes "
                    f"FROM {t} WHERE n = ? ORDER BY id LIMIT ?",
             "params": [7, 1], "expect_rows": 1, "name": "select",
             "assertions": [{"type": "json_path", "path": "$[0].n", "value": 7},
                            {"type": "json_path", "path": "$[0].x", "value": 1.5},
                            {"type": "json_path", "path": "$[0].d", "value": 2.5},
                            {"type": "json_path", "path": "$[0].doc.k", "value": "v"},
                            {"type": "json_path", "path": "$[0].note", "value": None},
                            {"type": "json_path", "path": "$[0].yes", "value": 1},
                            {"type": "json_path", "path": "$[0].n_text", "value": "7"}],
             "extract": [{"var": "picked", "path": "id"}]},
            {"sql": f"UPDATE {t} SET n = 8 WHERE id = ?", "params": ["${picked}"],
             "expect_rows": 1, "name": "update extracted"},
            {"sql": f"SELECT id FROM {t} WHERE id = 'no such id'", "expect_rows": 1,
             "name": "expect one"},
        ], self.url))
        per = self.check_passed(
            s, ["insert", "insert named", "insert dollar", "select", "update extracted"])
        # ${uuid()} rendered per request: every insert made its own row, NULL bound as NULL.
        self.assertEqual(int(self.mysql(f"SELECT count(*) FROM {t} WHERE doc IS NOT NULL")),
                         per["insert"]["requests"])
        self.assertEqual(int(self.mysql(f"SELECT count(*) FROM {t} WHERE id LIKE 'named-%' "
                                        "AND n IS NULL")), per["insert named"]["requests"])
        self.assertEqual(int(self.mysql(f"SELECT count(*) FROM {t} WHERE id = "
                                        "CONCAT('dollar-', note) AND n = 9")),
                         per["insert dollar"]["requests"])
        self.assertGreater(int(self.mysql(f"SELECT count(*) FROM {t} WHERE n = 8")), 0)

    def test_values_are_bound_not_spliced(self):
        # A backslash escape is MariaDB's own way out of a quoted string: bound, it is data.
        t = self.table
        self.check_bound(f"INSERT INTO {t} (id) VALUES (CONCAT(?, ?))",
                         "x\\'); DROP TABLE " + t + "; -- '",
                         f"SELECT count(*) FROM {t} WHERE id LIKE '%DROP TABLE%' AND "
                         "LOCATE(CONCAT(CHAR(92), CHAR(39)), id) = 2")

    def test_server_errors_are_sql_errors_with_sqlstate(self):
        s = self.run_ok(sql_test([
            {"sql": "SELEC 1", "name": "syntax"},
            {"sql": "SELECT * FROM no_such_table_here", "name": "missing table"},
            {"sql": f"INSERT INTO {self.table} (id) VALUES ('same')", "name": "duplicate"},
            {"sql": "SELECT ?, :a", "params": {"a": 1}, "name": "markers"},
            {"sql": "SELECT 1", "expect_rows": 1, "name": "still fine"},
        ], self.url, users=1, test_time=1))
        per = s["per_name"]
        self.assertEqual(per["syntax"]["failures"], per["syntax"]["requests"])
        self.assertEqual(per["missing table"]["failures"], per["missing table"]["requests"])
        self.assertEqual(per["duplicate"]["failures"], per["duplicate"]["requests"] - 1)
        self.assertEqual(per["markers"]["failures"], per["markers"]["requests"])
        self.assertEqual(per["still fine"]["failures"], 0)
        self.assertEqual(set(s["errors_by_kind"]), {"sql_error"})
        messages = {e["name"]: e["message"] for e in s["errors"]}
        self.assertTrue(messages["syntax"].startswith("42000 You have an error in your SQL"),
                        messages)
        self.assertTrue(messages["missing table"].startswith("42S02 "), messages)
        self.assertTrue(messages["duplicate"].startswith("23000 Duplicate entry"), messages)
        self.assertIn("the statement has 2 parameter markers but the task binds 1",
                      messages["markers"])

    def test_lost_connection_reconnects_on_the_next_task(self):
        # KILL of its own connection: the server answers 70100, then closes it.
        s = self.check_reconnects(f"INSERT INTO {self.table} (id) VALUES (?)",
                                  "KILL CONNECTION_ID()")
        self.assertEqual({e["message"][:6] for e in s["errors"]}, {"70100 "}, s["errors"])

    def test_refused_bad_password_and_timeout(self):
        u = urllib.parse.urlsplit(self.url)
        s = self.run_ok(sql_test([{"sql": "SELECT 1"}],
                                 f"mariadb://ld:ldpass@127.0.0.1:{free_port()}/ld",
                                 users=1, test_time=1))
        self.assertGreater(s["totals"]["failures"], 0)
        self.assertEqual(set(s["errors_by_kind"]), {"refused"})
        s = self.run_ok(sql_test([{"sql": "SELECT 1"}],
                                 f"mysql+pymysql://ld:wrong@127.0.0.1:{u.port}/ld",
                                 users=1, test_time=1))
        self.assertGreater(s["totals"]["failures"], 0)
        self.assertEqual(set(s["errors_by_kind"]), {"connect"})
        self.assertTrue(s["errors"][0]["message"].startswith("28000 Access denied for user 'ld'"),
                        s["errors"])
        self.check_timeout("SELECT SLEEP(2)")
        # A server that never greets: connecting times out (libmariadb's wait is cut short).
        with socket.socket() as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen(16)
            s = self.run_ok(sql_test([{"sql": "SELECT 1", "timeout": 0.3}],
                                     f"mysql://ld@127.0.0.1:{silent.getsockname()[1]}/ld",
                                     users=1, test_time=1))
        self.assertGreater(s["totals"]["failures"], 0)
        self.assertEqual(set(s["errors_by_kind"]), {"timeout"}, s["errors"])

    def test_socket_file(self):
        socket_file = self.need_env("LD_MARIADB_SOCKET")
        s = self.run_ok(sql_test([
            {"sql": "SELECT name, age FROM people WHERE age > :age ORDER BY age",
             "params": {"age": 40}, "expect_rows": 1,
             "assertions": [{"type": "json_path", "path": "$[0].name", "value": "bob"}]}],
            f"mariadb://ld:ldpass@/ld?unix_socket={urllib.parse.quote(socket_file)}",
            users=1, test_time=1))
        self.assertEqual(s["totals"]["failures"], 0, s["errors"])
        self.assertGreater(s["totals"]["requests"], 0)

    def test_bad_input_exits_2(self):
        for task, conn, needle in [
            ({"sql": "SELECT :a", "params": {"a": 1, "b": 2}}, self.url, "/tasks/0/params"),
            ({"sql": "SELECT 1"}, self.url + "?sslmode=prefer", "/connection_string"),
            ({"sql": "SELECT 1"}, "mysql://ld:%zz@127.0.0.1/ld", "bad %-escape"),
        ]:
            with self.subTest(task=task, conn=conn):
                r = self.run_doc(doc(sql_test([task], conn)))
                self.assertEqual(r.code, 2, r.err + r.out)
                self.assertIn(needle, r.err)
                self.assertFalse(r.exists("summary.json"))
        # A parameter number past the list is refused when the test compiles (no request).
        r = self.run_doc(doc(sql_test([{"sql": "SELECT $3", "params": [1]}], self.url)))
        self.assertEqual(r.code, 2, r.err + r.out)
        self.assertIn("/tasks/0/params", r.err + r.out)
        self.assertIn("the SQL uses parameter 3 but params has 1 value", r.err + r.out)


class SqliteTest(Case):
    def test_file_database_through_the_offload_pool(self):
        path = os.path.join(self.workdir, "data.db")
        s = self.run_doc(doc(sql_test([
            {"sql": "CREATE TABLE IF NOT EXISTS items (id TEXT PRIMARY KEY, n INTEGER, x REAL)",
             "name": "create"},
            {"sql": "INSERT INTO items (id, n, x) VALUES (:id, :n, 1.5)",
             "params": {"id": "${uuid()}", "n": 4}, "expect_rows": 1, "name": "insert"},
            {"sql": "SELECT id, n, x, NULL AS empty FROM items WHERE n = ?1 LIMIT 1",
             "params": [4], "expect_rows": 1, "name": "select",
             "assertions": [{"type": "json_path", "path": "$[0].n", "value": 4},
                            {"type": "json_path", "path": "$[0].x", "value": 1.5},
                            {"type": "contains", "value": '"empty":null'}],
             "extract": [{"var": "picked", "path": "id"}]},
            {"sql": "UPDATE items SET n = 5 WHERE id = ?", "params": ["${picked}"],
             "expect_rows": 1, "name": "update"},
            {"sql": "SELEC 1", "name": "syntax"},
        ], "sqlite:///" + path, users=2)))
        self.assertEqual(s.code, 0, s.err)
        s = s.summary()
        per = s["per_name"]
        for name in ["create", "insert", "select", "update"]:
            self.assertEqual(per[name]["failures"], 0, (name, s["errors"]))
            self.assertGreater(per[name]["requests"], 5, name)
        self.assertEqual(per["syntax"]["failures"], per["syntax"]["requests"])
        self.assertEqual(set(s["errors_by_kind"]), {"sql_error"})
        self.assertIn("syntax error", {e["name"]: e["message"] for e in s["errors"]}["syntax"])
        with sqlite3.connect(path) as db:
            self.assertEqual(db.execute("SELECT count(DISTINCT id) FROM items").fetchone()[0],
                             per["insert"]["requests"])
            self.assertGreater(db.execute("SELECT count(*) FROM items WHERE n = 5").fetchone()[0], 0)

    def test_memory_database_is_the_default(self):
        r = self.run_doc(doc(["LD_start_test", {
            "user_detail_dict": {"user": "sql_user"}, "user_count": 1, "spawn_rate": 10,
            "test_time": 1, "tasks": [
                {"sql": "CREATE TABLE IF NOT EXISTS m (v INTEGER)"},
                {"sql": "INSERT INTO m VALUES (1)", "expect_rows": 1, "name": "insert"},
                {"sql": "SELECT count(*) AS c FROM m", "name": "count",
                 "assertions": [{"type": "json_path", "path": "$[0].c", "value": 1}]}]}]))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        self.assertEqual(s["per_name"]["insert"]["failures"], 0, s["errors"])
        self.assertGreater(s["per_name"]["count"]["failures"], 0)  # one memory db per user, growing
        self.assertFalse(os.path.exists(os.path.join(self.workdir, ":memory:")))
