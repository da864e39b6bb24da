"""The embedded target's MQTT broker (`loaddensity target`, ${target_mqtt}), checked with
independent clients (mosquitto_pub / mosquitto_sub, MQTT 3.1.1 and 5) and driven by mqtt_user:
routing with wildcards at every QoS, retained messages, wills, a client id taken over, MQTT 5
properties forwarded, and the offline example's scenario."""
import shutil
import socket
import subprocess
import unittest

from ldtest import Case, doc, start_target, stop_target


def mqtt_test(tasks, url, users=1, test_time=2):
    return ["LD_start_test", {"user_detail_dict": {"user": "mqtt_user"}, "user_count": users,
                              "spawn_rate": 1000, "test_time": test_time, "host": url,
                              "tasks": tasks}]


@unittest.skipUnless(shutil.which("mosquitto_sub"), "mosquitto-clients is not installed")
class EmbeddedMqttBrokerTest(Case):
    @classmethod
    def setUpClass(cls):
        cls.target, port = start_target(listing=r"mqtt mqtt://127\.0\.0\.1:(\d+)")
        cls.port = int(port)
        cls.url = f"mqtt://127.0.0.1:{cls.port}"

    @classmethod
    def tearDownClass(cls):
        stop_target(cls.target)

    def sub(self, *args, count):
        """mosquitto_sub that exits after `count` messages (or 10 s); returns the process once
        it is subscribed (its SUBACK arrived: -d prints it)."""
        # stdbuf: mosquitto_sub's stdout is a pipe here, block-buffered without it.
        p = subprocess.Popen(["stdbuf", "-oL", "mosquitto_sub", "-p", str(self.port), "-d", "-C", str(count),
                              "-W", "10", *args], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        for _ in range(50):
            line = p.stdout.readline()
            if "SUBACK" in line or not line:
                break
        return p

    def messages(self, p):
        # Read through the same buffered stream sub() read from (communicate() would skip what
        # that buffer already holds). -C and -W bound how long this takes.
        out = p.stdout.read()
        p.wait(20)
        p.stdout.close()
        return [l for l in out.splitlines() if not l.startswith(("Client ", "Subscribed ("))]

    def pub(self, *args):
        subprocess.run(["mosquitto_pub", "-p", str(self.port), *args], check=True, timeout=10)

    def test_wildcards_and_every_qos_both_ways(self):
        p = self.sub("-t", "w/+/x", "-t", "w/all/#", "-q", "2", "-v", count=4)
        self.pub("-t", "w/a/x", "-m", "plus", "-q", "0")
        self.pub("-t", "w/a/y", "-m", "nomatch", "-q", "1")
        self.pub("-t", "w/all", "-m", "parent", "-q", "1")
        self.pub("-t", "w/all/deep/er", "-m", "deep", "-q", "2")
        self.pub("-V", "mqttv5", "-t", "w/b/x", "-m", "five", "-q", "2")
        self.assertEqual(self.messages(p), ["w/a/x plus", "w/all parent", "w/all/deep/er deep",
                                            "w/b/x five"])

    def test_retained_message_and_clearing_it(self):
        self.pub("-t", "ret/t", "-m", "kept", "-r", "-q", "1")
        p = self.sub("-t", "ret/#", "-v", count=1)
        self.assertEqual(self.messages(p), ["ret/t kept"])
        self.pub("-t", "ret/t", "-n", "-r")  # an empty retained message clears it
        p = subprocess.run(["mosquitto_sub", "-p", str(self.port), "-t", "ret/#", "-W", "1"],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(p.stdout, "")

    def test_will_on_unclean_close_not_on_disconnect(self):
        p = self.sub("-t", "will/#", "-v", count=1)
        # A client that says DISCONNECT: no will.
        self.pub("-t", "elsewhere", "-n", "--will-topic", "will/clean", "--will-payload", "no")
        # A connection that just drops after CONNECT: the will is published.
        body = bytes([0x00, 0x04]) + b"MQTT" + bytes([0x04, 0x06, 0x00, 0x3c])  # will, clean
        for s in (b"dropper", b"will/dirty", b"gone"):
            body += len(s).to_bytes(2, "big") + s
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as c:
            c.sendall(bytes([0x10, len(body)]) + body)
            self.assertEqual(c.recv(4), bytes([0x20, 0x02, 0x00, 0x00]))  # CONNACK accepted
        self.assertEqual(self.messages(p), ["will/dirty gone"])

    def test_mqtt5_user_properties_are_forwarded(self):
        p = self.sub("-V", "mqttv5", "-t", "props/t", "-F", "%t %p %P", count=1)
        self.pub("-V", "mqttv5", "-t", "props/t", "-m", "body", "-D", "publish",
                 "user-property", "k", "v")
        self.assertEqual(self.messages(p), ["props/t body k:v"])

    def test_a_second_connection_with_the_same_client_id_takes_over(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as first:
            body = bytes([0x00, 0x04]) + b"MQTT" + bytes([0x04, 0x02, 0x00, 0x3c, 0x00, 0x04])
            body += b"same"
            first.sendall(bytes([0x10, len(body)]) + body)
            self.assertEqual(first.recv(4), bytes([0x20, 0x02, 0x00, 0x00]))
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as second:
                second.sendall(bytes([0x10, len(body)]) + body)
                self.assertEqual(second.recv(4), bytes([0x20, 0x02, 0x00, 0x00]))
                self.assertEqual(first.recv(16), b"")  # closed by the broker

    def test_garbage_is_closed_and_the_broker_keeps_serving(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as c:
            c.sendall(b"\x30\x02\x00\x00")  # PUBLISH before CONNECT
            self.assertEqual(c.recv(16), b"")
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as c:
            c.sendall(b"\x10\xff\xff\xff\xff\x01")  # a five-byte remaining length
            self.assertEqual(c.recv(16), b"")
        p = self.sub("-t", "alive", count=1)
        self.pub("-t", "alive", "-m", "yes")
        self.assertEqual(self.messages(p), ["yes"])

    def test_mqtt_user_every_method_and_delivery_latency(self):
        r = self.run_doc(doc(mqtt_test([
            {"method": "connect", "client_id": "u-${uuid()}", "version": 5},
            {"method": "subscribe", "topic": "loop/${uuid()}/#", "qos": 1, "name": "sub other"},
            {"method": "subscribe", "topic": "mine/t", "qos": 2},
            {"method": "publish", "topic": "mine/t", "payload": "q0", "qos": 0},
            {"method": "publish", "topic": "mine/t", "payload": "q1", "qos": 1,
             "name": "publish q1", "measure": "delivery"},
            {"method": "publish", "topic": "mine/t", "payload": "q2", "qos": 2,
             "name": "publish q2"},
            {"method": "wait", "count": 3, "timeout": 5},
            {"method": "unsubscribe", "topic": "mine/t"},
            {"method": "disconnect"},
        ], self.url, users=1, test_time=2)))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        self.assertEqual(s["totals"]["failures"], 0, s["errors"])
        for name in ["connect", "sub other", "subscribe", "publish", "publish q1", "publish q2",
                     "wait", "unsubscribe", "disconnect"]:
            self.assertGreater(s["per_name"][name]["requests"], 0, name)


if __name__ == "__main__":
    unittest.main()
