"""kafka_user against librdkafka's mock cluster, served by `loaddensity target --kafka` in the
background, with kcat on the other side: kcat reads what loaddensity produced (keys, values,
headers) and loaddensity consumes what kcat produced; consumer groups, expect and assertion
failures, a broker that is down, and bad input."""
import subprocess
import uuid

from ldtest import Case, doc, free_port, start_target, stop_target


def kafka_test(tasks, users=1, test_time=2, **kw):
    args = {"user_detail_dict": {"user": "kafka_user"}, "user_count": users, "spawn_rate": 1000,
            "test_time": test_time, "tasks": tasks}
    args.update(kw)
    return ["LD_start_test", args]


class KafkaTest(Case):
    @classmethod
    def setUpClass(cls):
        cls.broker, cls.addr = start_target("--kafka", listing=r"kafka (\S+)")

    @classmethod
    def tearDownClass(cls):
        stop_target(cls.broker)

    def topic(self):
        return "t-" + uuid.uuid4().hex[:12]

    def kcat(self, *args, stdin=None):
        p = subprocess.run(["kcat", "-b", self.addr, *args], input=stdin, capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def run_ok(self, *actions):
        r = self.run_doc(doc(*actions))
        self.assertEqual(r.code, 0, r.err + r.out)
        return r.summary()

    def test_kcat_reads_what_loaddensity_produced(self):
        topic = self.topic()
        s = self.run_ok(kafka_test([
            {"method": "produce", "topic": topic, "key": "user-${randint(1,99)}",
             "value": {"id": "${uuid()}", "kind": "order"}, "headers": {"trace": "t-${randint(1,9)}",
                                                                         "app": "ld"}},
        ], users=2, bootstrap_servers=self.addr))
        self.assertEqual(s["totals"]["failures"], 0, s["errors"])
        produced = s["per_name"]["produce " + topic]
        self.assertEqual(produced["request_type"], "KAFKA")
        self.assertGreater(produced["requests"], 10)
        lines = self.kcat("-C", "-t", topic, "-o", "beginning", "-e", "-q",
                          "-f", "%k|%s|%h\n").splitlines()
        self.assertEqual(len(lines), produced["requests"])
        ids = set()
        for line in lines:
            key, value, headers = line.split("|")
            self.assertRegex(key, r"^user-\d+$")
            self.assertRegex(value, r'^\{"id":"[0-9a-f-]{36}","kind":"order"\}$')
            self.assertRegex(headers, r"^app=ld,trace=t-[1-9]$")  # in name order
            ids.add(value)
        self.assertEqual(len(ids), len(lines), "every message has its own rendered value")

    def test_loaddensity_consumes_what_kcat_produced(self):
        topic = self.topic()
        self.kcat("-P", "-t", topic, "-K", ":",
                  stdin="".join(f'k{i}:{{"n": {i}, "from": "kcat"}}\n' for i in range(5)))
        s = self.run_ok(kafka_test([
            {"method": "consume", "topic": topic, "from": "earliest", "expect": "kcat",
             "timeout": 1, "assertions": [{"type": "json_path", "path": "from", "value": "kcat"}],
             "extract": [{"var": "n", "path": "n"}]},
            {"method": "produce", "topic": topic + "-echo", "value": "${n}", "name": "echo"},
        ], test_time=3, bootstrap_servers=self.addr))
        consumed = s["per_name"]["consume " + topic]
        # Five messages, one per consume: then the consumes time out.
        self.assertEqual(consumed["requests"] - consumed["failures"], 5, s["errors"])
        for e in s["errors"]:
            self.assertEqual((e["name"], e["kind"]), ("consume " + topic, "timeout"), e)
        echoed = self.kcat("-C", "-t", topic + "-echo", "-o", "beginning", "-e", "-q").split()
        # Every value extracted from a consumed message was produced again (order across
        # partitions is open; after the timeouts the last value is kept).
        self.assertEqual(set(echoed), {"0", "1", "2", "3", "4"})

    def test_consume_from_latest(self):
        topic = self.topic()
        self.kcat("-P", "-t", topic, stdin="before\n")
        # The consumer starts at the latest offset, as the original's: the first iteration's
        # consumer is made after its produce was delivered and times out; from then on it
        # receives each iteration's message, never the one produced before it existed. (A
        # failed task ends its iteration, as in the original.)
        s = self.run_ok(kafka_test([
            {"method": "produce", "topic": topic, "value": "after ${uuid()}", "name": "produce"},
            {"method": "consume", "topic": topic, "name": "latest", "expect": "after",
             "timeout": 1},
        ], test_time=3, bootstrap_servers=self.addr))
        latest = s["per_name"]["latest"]
        self.assertEqual(latest["failures"], 1, s["errors"])
        self.assertGreater(latest["requests"], 2)
        self.assertEqual([(e["kind"], e["count"]) for e in s["errors"]], [("timeout", 1)])

    def test_consume_in_a_group(self):
        topic = self.topic()
        self.kcat("-P", "-t", topic, stdin="first\nsecond\n")
        s = self.run_ok(kafka_test([
            {"method": "consume", "topic": topic, "group": "g-${randint(1,1000000)}",
             "from": "earliest", "name": "group", "timeout": 10},
        ], test_time=1, bootstrap_servers=self.addr))
        group = s["per_name"]["group"]
        self.assertGreaterEqual(group["requests"] - group["failures"], 1, s["errors"])

    def test_expect_failure(self):
        topic = self.topic()
        s = self.run_ok(kafka_test([
            {"method": "produce", "topic": topic, "value": '{"status": "open"}'},
            {"method": "consume", "topic": topic, "from": "earliest", "expect": "closed",
             "name": "expect"},
        ], test_time=2, bootstrap_servers=self.addr))
        expect = s["per_name"]["expect"]
        self.assertGreater(expect["requests"], 0)
        self.assertEqual(expect["failures"], expect["requests"])
        self.assertEqual({(e["name"], e["kind"], e["message"]) for e in s["errors"]},
                         {("expect", "assertion", "expect failed: value contains 'closed'")})

    def test_assertion_failure(self):
        topic = self.topic()
        s = self.run_ok(kafka_test([
            {"method": "produce", "topic": topic, "value": '{"status": "open"}'},
            {"method": "consume", "topic": topic, "from": "earliest", "name": "assert",
             "assertions": [{"type": "json_path", "path": "status", "value": "closed"}]},
        ], test_time=2, bootstrap_servers=self.addr))
        b = s["per_name"]["assert"]
        self.assertGreater(b["requests"], 0)
        self.assertEqual(b["failures"], b["requests"])
        self.assertEqual({(e["name"], e["kind"]) for e in s["errors"]}, {("assert", "assertion")})

    def test_broker_down_counts_failures(self):
        down = f"127.0.0.1:{free_port()}"
        r = self.run_doc(doc(kafka_test([
            {"method": "produce", "topic": "t", "value": "x", "timeout": 0.5},
            {"method": "consume", "topic": "t", "timeout": 0.5},
        ], users=2, test_time=2, bootstrap_servers=[down])), timeout=60)
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        for name in ["produce t", "consume t"]:
            b = s["per_name"][name]
            self.assertGreater(b["requests"], 0, name)
            self.assertEqual(b["failures"], b["requests"], name)
        self.assertLessEqual({e["kind"] for e in s["errors"]}, {"timeout", "kafka_error"})

    def test_bad_input_exits_2_before_anything_runs(self):
        for task, needle in [
            ({"method": "produse", "topic": "t"}, "did you mean 'produce'?"),
            ({"method": "produce", "topik": "t"}, "did you mean 'topic'?"),
            ({"method": "consume"}, "/tasks/0/topic"),
            ({"method": "produce", "topic": "t", "expect": "x"}, "/tasks/0/expect"),
            ({"method": "consume", "topic": "t", "from": "middle"}, "/tasks/0/from"),
            ({"method": "produce", "topic": "t", "config": {"no.such.setting": "1"}},
             "/tasks/0/config/no.such.setting"),
            ({"method": "produce", "topic": "t", "config": {"linger.ms": {"a": 1}}},
             "/tasks/0/config/linger.ms"),
            ({"method": "consume", "topic": "t", "assertions": [{"type": "status_code", "value": 200}]},
             "/tasks/0/assertions/0"),
            ({"topic": "t"}, "method"),
        ]:
            with self.subTest(task=task):
                r = self.run_doc(doc(kafka_test([task], bootstrap_servers=self.addr)))
                self.assertEqual(r.code, 2, (task, r.out, r.err))
                self.assertIn(needle, r.err + r.out)
                self.assertFalse(r.exists("summary.json"))
        r = self.run_doc(doc(kafka_test([{"method": "flush"}], bootstrap_servers=5)))
        self.assertEqual(r.code, 2)
        self.assertIn("/bootstrap_servers", r.err + r.out)
