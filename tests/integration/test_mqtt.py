"""mqtt_user against a real mosquitto broker started here (one per test class, free ports, its own
config): a plain listener, a TLS listener with a self-signed certificate and a listener that
wants a password. Covers connect, publish at QoS 0/1/2, subscribe and wait with expect, MQTT 5,
delivery latency (a user receiving what it published), per-request placeholders read back by
mosquitto_sub, bad input, a broker that is down, bad credentials, TLS, keepalive pings and
2,000 users connecting from one worker."""
import json
import os
import resource
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from ldtest import Case, doc, free_port


def mqtt_test(tasks, users=1, test_time=2, **kw):
    args = {"user_detail_dict": {"user": "mqtt_user"}, "user_count": users, "spawn_rate": 1000,
            "test_time": test_time, "tasks": tasks}
    args.update(kw)
    return ["LD_start_test", args]


def wait_port(port, proc, what):
    for _ in range(200):
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not start")


@unittest.skipUnless(shutil.which("mosquitto") or os.path.exists("/usr/sbin/mosquitto"),
                     "mosquitto is not installed (scripts/setup.sh)")
class MqttTest(Case):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="ld-mqtt-")
        d = cls.dir
        cls.cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                        "-keyout", key, "-out", cls.cert], check=True, capture_output=True)
        pw = os.path.join(d, "passwords")
        subprocess.run(["mosquitto_passwd", "-b", "-c", pw, "alice", "s3cret"], check=True,
                       capture_output=True)
        cls.port, cls.tls_port, cls.pw_port = free_port(), free_port(), free_port()
        cls.log = os.path.join(d, "mosquitto.log")
        conf = os.path.join(d, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write(f"""per_listener_settings true
persistence false
user root
log_dest file {cls.log}
log_type all
max_queued_messages 100000
listener {cls.port} 127.0.0.1
allow_anonymous true
listener {cls.tls_port} 127.0.0.1
allow_anonymous true
certfile {cls.cert}
keyfile {key}
listener {cls.pw_port} 127.0.0.1
allow_anonymous false
password_file {pw}
""")
        mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        cls.broker = subprocess.Popen([mosquitto, "-c", conf], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
        try:
            for p in (cls.port, cls.tls_port, cls.pw_port):
                wait_port(p, cls.broker, "mosquitto")
        except Exception:
            cls.tearDownClass()
            raise
        cls.url = f"mqtt://127.0.0.1:{cls.port}"

    @classmethod
    def tearDownClass(cls):
        cls.broker.terminate()
        cls.broker.wait(10)
        shutil.rmtree(cls.dir, ignore_errors=True)

    def run_ok(self, *actions):
        r = self.run_doc(doc(*actions))
        self.assertEqual(r.code, 0, r.err + r.out)
        return r.summary()

    def test_publish_every_qos_subscribe_and_wait(self):
        s = self.run_ok(mqtt_test([
            {"method": "subscribe", "topic": "qos/u/#", "qos": 2},
            {"method": "publish", "topic": "qos/u/0", "payload": "hello 0", "qos": 0,
             "name": "pub0"},
            {"method": "publish", "topic": "qos/u/1", "payload": "hello 1", "qos": 1,
             "name": "pub1"},
            {"method": "publish", "topic": "qos/u/2", "payload": "other", "qos": 2,
             "name": "pub2"},
            {"method": "wait", "count": 2, "expect": "hello", "timeout": 5},
            {"method": "publish", "topic": "qos/u/j", "payload": {"n": 7, "k": "v"},
             "qos": 1, "name": "pub json"},
            # "other" (QoS 2) is still in the inbox: expect skips it.
            {"method": "receive", "name": "json back", "expect": "\"k\"",
             "assertions": [{"type": "json_path", "path": "$.n", "value": 7}]},
        ], host=self.url, test_time=2))
        self.assertEqual(s["totals"]["failures"], 0, s["errors"])
        per = s["per_name"]
        for name in ["connect", "subscribe", "pub0", "pub1", "pub2", "wait", "pub json",
                     "json back"]:
            self.assertGreater(per[name]["requests"], 0, name)
            self.assertEqual(per[name]["request_type"], "MQTT")
        self.assertEqual(per["connect"]["requests"], 1)  # once, on first use
        self.assertGreater(per["pub1"]["requests"], 20)

    def test_mqtt5(self):
        s = self.run_ok(mqtt_test([
            {"method": "connect", "version": 5, "url": self.url},
            {"method": "subscribe", "topic": "v5/t", "qos": 1},
            {"method": "publish", "topic": "v5/t", "payload": "five", "qos": 1},
            {"method": "wait", "expect": "five"},
            {"method": "unsubscribe", "topic": "v5/t"},
            {"method": "disconnect"},
        ], test_time=2))
        self.assertEqual(s["totals"]["failures"], 0, s["errors"])
        for name in ["connect", "subscribe", "publish", "wait", "unsubscribe", "disconnect"]:
            self.assertGreater(s["per_name"][name]["requests"], 0, name)

    def test_delivery_is_measured_from_publish_to_receipt(self):
        s = self.run_ok(mqtt_test([
            {"method": "subscribe", "topic": "loop/u", "qos": 1},
            {"method": "publish", "topic": "loop/u", "payload": "round trip", "qos": 1,
             "measure": "delivery", "name": "delivered"},
            # The stamp is stripped before checks: the payload is what the task published.
            {"method": "wait", "expect": "round trip",
             "assertions": [{"type": "not_contains", "value": "ldts:"},
                            {"type": "contains", "value": "round trip"}]},
        ], host=self.url))
        self.assertEqual(s["totals"]["failures"], 0, s["errors"])
        per = s["per_name"]
        # One delivery record per message that came back; the test may stop between the
        # publish and its wait.
        self.assertGreater(per["delivered"]["requests"], 20)
        self.assertLessEqual(abs(per["delivered"]["requests"] - per["wait"]["requests"]), 2)

    def test_full_inbox_drops_and_counts(self):
        # Ten messages arrive before each wait; the inbox holds three.
        tasks = [{"method": "subscribe", "topic": "full/u", "qos": 1}]
        tasks += [{"topic": "full/u", "payload": f"m{i}", "qos": 1} for i in range(10)]
        tasks += [{"method": "wait", "count": 3, "timeout": 5}]
        s = self.run_ok(mqtt_test(tasks, host=self.url, test_time=1, mqtt_inbox=3))
        per = s["per_name"]["wait"]
        self.assertGreater(per["requests"], 0)
        drops = [e for e in s["errors"] if e["name"] == "wait"]
        self.assertEqual(len(drops), 1, s["errors"])
        self.assertIn("inbox was full", drops[0]["message"])
        self.assertEqual(set(s["errors_by_kind"]), {"other"})

    def test_placeholders_read_back_by_mosquitto_sub(self):
        sub = subprocess.Popen(["stdbuf", "-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p",
                                str(self.port), "-t", "ph/#", "-q", "1", "-v", "-i",
                                "independent-reader"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        # Read as it arrives: thousands of lines would fill the pipe and stall mosquitto_sub.
        lines = []
        reader = threading.Thread(target=lambda: lines.extend(sub.stdout), daemon=True)
        reader.start()
        try:
            time.sleep(0.5)  # mosquitto_sub has no "subscribed" signal; it must be listening
            s = self.run_ok(mqtt_test([
                {"method": "connect", "client_id": "ldtest-${uuid()}"},
                {"method": "publish", "topic": "ph/${randint(1,9)}", "payload": "id=${uuid()}",
                 "qos": 1},
                {"method": "disconnect"},
            ], users=2, host=self.url, test_time=1))
            published = s["per_name"]["publish"]["requests"]
            for _ in range(300):  # every acknowledged message reaches the reader
                if len(lines) >= published:
                    break
                time.sleep(0.05)
            time.sleep(0.2)  # and no more than those
        finally:
            sub.terminate()
            sub.wait(10)
            reader.join(10)
        lines = [l.rstrip("\n") for l in lines]
        self.assertEqual(s["totals"]["failures"], 0, s["errors"])
        self.assertEqual(len(lines), published)
        payloads = set()
        for line in lines:
            topic, payload = line.split(" ", 1)
            self.assertIn(topic, {f"ph/{i}" for i in range(1, 10)})
            self.assertTrue(payload.startswith("id=") and len(payload) == 39, payload)
            payloads.add(payload)
        self.assertEqual(len(payloads), published)  # a uuid per request
        with open(self.log) as f:
            self.assertIn(" as ldtest-", f.read())  # the client id placeholder, per connect

    def test_bad_input_exits_2(self):
        cases = [
            ({"method": "publish", "topik": "t"}, "did you mean 'topic'"),
            ({"method": "publsh", "topic": "t"}, "publish"),
            ({"method": "publish", "topic": "t", "qos": 3}, "qos"),
            ({"method": "subscribe"}, "topic"),
            ({"method": "publish", "topic": "a/#"}, "wildcard"),
            ({"method": "wait", "payload": "x"}, "payload"),
            ({"method": "connect", "version": "4"}, "version"),
            ({"method": "publish", "topic": "t", "url": "http://127.0.0.1:1"}, "url"),
        ]
        for task, text in cases:
            r = self.run_doc(doc(mqtt_test([task], test_time=1)))
            self.assertEqual(r.code, 2, (task, r.err))
            self.assertIn(text, r.err, task)

    def test_broker_down_is_refused(self):
        s = self.run_ok(mqtt_test([{"topic": "t", "payload": "x"}],
                                  host=f"mqtt://127.0.0.1:{free_port()}", test_time=1))
        self.assertGreater(s["totals"]["failures"], 0)
        self.assertEqual(set(s["errors_by_kind"]), {"refused"}, s["errors"])
        self.assertEqual(s["per_name"]["connect"]["failures"], s["totals"]["failures"])

    def test_broker_going_away_is_a_reset(self):
        port = free_port()
        log = os.path.join(self.workdir, "broker.log")
        conf = os.path.join(self.workdir, "broker.conf")
        with open(conf, "w") as f:
            f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    f"user root\nlog_dest file {log}\nlog_type all\n")
        broker = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", conf],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: (broker.kill(), broker.wait(10)))
        wait_port(port, broker, "mosquitto")
        ld = self.start_doc(doc(mqtt_test([
            {"method": "subscribe", "topic": "nobody/publishes/here"},
            {"method": "wait", "timeout": 30},
        ], host=f"mqtt://127.0.0.1:{port}", test_time=3)))
        # Once the user has subscribed it waits for a message that never comes: stop the broker.
        for _ in range(400):
            if os.path.exists(log):
                with open(log) as f:
                    if "SUBSCRIBE" in f.read():
                        break
            time.sleep(0.025)
        broker.kill()
        broker.wait(10)
        out, err = ld.communicate(timeout=60)
        self.assertEqual(ld.returncode, 0, err + out)
        with open(os.path.join(self.workdir, "summary.json")) as f:
            s = json.load(f)
        self.assertEqual(s["per_name"]["wait"]["failures"], 1, s["errors"])
        self.assertIn("reset", s["errors_by_kind"], s["errors"])
        waits = [e for e in s["errors"] if e["name"] == "wait"]
        self.assertEqual(waits[0]["message"], "connection closed by the broker")
        # Reconnecting finds nothing listening.
        self.assertIn("refused", s["errors_by_kind"], s["errors"])

    def test_credentials(self):
        url = f"mqtt://127.0.0.1:{self.pw_port}"
        s = self.run_ok(mqtt_test([
            {"method": "connect", "username": "alice", "password": "s3cret", "url": url},
            {"topic": "pw/t", "payload": "x", "qos": 1},
            {"method": "disconnect"},
        ], test_time=1))
        self.assertEqual(s["totals"]["failures"], 0, s["errors"])
        s = self.run_ok(mqtt_test([
            {"method": "connect", "username": "alice", "password": "wrong", "url": url},
        ], test_time=1))
        self.assertGreater(s["totals"]["failures"], 0)
        self.assertEqual(set(s["errors_by_kind"]), {"connect"}, s["errors"])
        self.assertIn("CONNACK", s["errors"][0]["message"])

    def test_tls(self):
        s = self.run_ok(mqtt_test([
            {"topic": "tls/t", "payload": "secure", "qos": 1,
             "url": f"mqtts://127.0.0.1:{self.tls_port}", "verify": self.cert},
        ], test_time=1))
        self.assertEqual(s["totals"]["failures"], 0, s["errors"])
        self.assertGreater(s["per_name"]["publish"]["requests"], 10)
        # The system store does not know the self-signed certificate.
        s = self.run_ok(mqtt_test([
            {"topic": "tls/t", "payload": "secure", "url": f"mqtts://127.0.0.1:{self.tls_port}"},
        ], test_time=1))
        self.assertGreater(s["totals"]["failures"], 0)
        self.assertEqual(set(s["errors_by_kind"]), {"tls"}, s["errors"])
        self.assertIn("certificate verify failed", s["errors"][0]["message"])

    def test_keepalive_sends_pingreq(self):
        # A user that only waits sends nothing but PINGREQs; mosquitto logs each one.
        s = self.run_ok(mqtt_test([
            {"method": "connect", "keepalive": 1, "client_id": "ka-${uuid()}"},
            {"method": "wait", "timeout": 3.5, "name": "idle"},
        ], host=self.url, test_time=4))
        self.assertEqual(s["per_name"]["connect"]["failures"], 0, s["errors"])
        with open(self.log) as f:
            pings = [l for l in f if "PINGREQ from ka-" in l]
        self.assertGreaterEqual(len(pings), 2, "no PINGREQ in mosquitto's log")

    def test_2000_users_connect_from_one_worker(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < 4500:
            if hard != resource.RLIM_INFINITY and hard < 4500:
                self.skipTest(f"descriptor limit {hard} is below 4,500")
            resource.setrlimit(resource.RLIMIT_NOFILE, (4500, hard))
        s = self.run_ok(["LD_start_test", {
            "user_detail_dict": {"user": "mqtt_user", "wait_time": 1}, "user_count": 2000,
            "spawn_rate": 2000, "test_time": 4, "threads": 1, "host": self.url,
            "tasks": [{"topic": "many/users", "payload": "x"}]}])
        per = s["per_name"]
        self.assertEqual(per["connect"]["requests"], 2000, s["errors"])
        self.assertEqual(per["connect"]["failures"], 0, s["errors"])
        self.assertEqual(s["totals"]["failures"], 0, s["errors"])
        self.assertGreaterEqual(per["publish"]["requests"], 2000)


if __name__ == "__main__":
    unittest.main()
