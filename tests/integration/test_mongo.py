"""mongo_user against the embedded target's MongoDB wire-protocol responder, served by
`loaddensity target` in the background, with python3-pymongo as the independent client on the
other side: pymongo's own CRUD calls get MongoDB's answers from the responder; loaddensity finds
what pymongo inserted and pymongo reads what loaddensity inserted, updated and deleted; failures
(assertions, expect_min, server errors, a server that is down) have their kinds; bad input exits
2. No real MongoDB server is packaged for Debian 12, so none is tested here."""
import uuid

import pymongo
from bson import ObjectId

from ldtest import Case, doc, free_port, start_target, stop_target


def mongo_test(tasks, users=1, test_time=2, **kw):
    args = {"user_detail_dict": {"user": "mongo_user"}, "user_count": users, "spawn_rate": 1000,
            "test_time": test_time, "tasks": tasks}
    args.update(kw)
    return ["LD_start_test", args]


class MongoTest(Case):
    @classmethod
    def setUpClass(cls):
        cls.server, cls.url = start_target(listing=r"mongo (mongodb://\S+)")
        cls.client = pymongo.MongoClient(cls.url, serverSelectionTimeoutMS=5000)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        stop_target(cls.server)

    def coll(self):
        name = "c" + uuid.uuid4().hex[:10]
        return name, self.client["t"][name]

    def run_ok(self, *actions):
        r = self.run_doc(doc(*actions))
        self.assertEqual(r.code, 0, r.err + r.out)
        return r.summary()

    def test_responder_answers_pymongo_crud(self):
        _, c = self.coll()
        self.assertEqual(self.client.admin.command("ping")["ok"], 1.0)
        self.assertEqual(self.client.server_info()["version"], "5.0.0")
        r = c.insert_one({"name": "ada", "age": 36})
        self.assertIsInstance(r.inserted_id, ObjectId)
        self.assertEqual(len(c.insert_many([{"name": f"u{i}", "age": i} for i in range(250)])
                             .inserted_ids), 250)
        self.assertEqual(c.find_one({"name": "ada"})["age"], 36)
        self.assertIsNone(c.find_one({"name": "nobody"}))
        # More than one batch: getMore until the cursor is exhausted.
        self.assertEqual(len(list(c.find({}, batch_size=7))), 251)
        self.assertEqual([d["age"] for d in c.find({"age": {"$lt": 5}}).sort("age", -1).limit(3)],
                         [4, 3, 2])
        self.assertEqual(c.count_documents({"age": {"$gte": 200}}), 50)
        self.assertEqual(c.count_documents({"age": {"$in": [1, 2, 999]}}), 2)
        self.assertEqual(c.count_documents({"name": {"$exists": True}}, skip=1, limit=5), 5)
        u = c.update_one({"name": "ada"}, {"$set": {"city": "London", "a.b": 1}, "$inc": {"age": 1},
                                          "$unset": {"missing": ""}})
        self.assertEqual((u.matched_count, u.modified_count), (1, 1))
        got = c.find_one({"a.b": 1}, {"_id": 0})
        self.assertEqual((got["age"], got["city"], got["a"]), (37, "London", {"b": 1}))
        self.assertEqual(c.replace_one({"name": "u1"}, {"name": "one"}).modified_count, 1)
        self.assertEqual(c.find_one({"name": "one"}).keys() - {"_id"}, {"name"})
        up = c.update_one({"name": "new"}, {"$set": {"age": 1}}, upsert=True)
        self.assertIsInstance(up.upserted_id, ObjectId)
        self.assertEqual(c.find_one({"_id": up.upserted_id})["name"], "new")
        # Ages below 3: u0, u2 and the upserted document (u1 was replaced, it has no age).
        self.assertEqual(c.update_many({"age": {"$lt": 3}}, {"$inc": {"age": 100}}).matched_count, 3)
        self.assertEqual(c.delete_one({"name": "ada"}).deleted_count, 1)
        self.assertEqual(c.delete_many({"age": {"$gte": 100}}).deleted_count, 3 + 150)
        self.assertEqual(c.count_documents({}), 252 - 1 - 153)
        with self.assertRaises(pymongo.errors.DuplicateKeyError):
            c.insert_one({"_id": 1})
            c.insert_one({"_id": 1})
        with self.assertRaises(pymongo.errors.WriteError):
            c.update_one({"_id": 1}, {"$inc": {"_id": "x"}})
        c.drop()
        self.assertEqual(c.count_documents({}), 0)

    def test_loaddensity_finds_what_pymongo_inserted(self):
        name, c = self.coll()
        c.insert_many([{"sku": f"s{i}", "qty": i, "tags": ["x", f"t{i % 3}"]} for i in range(20)])
        s = self.run_ok(mongo_test([
            {"method": "find_one", "database": "t", "collection": name,
             "filter": {"sku": "s${randint(3,3)}"},
             "assertions": [{"type": "json_path", "path": "qty", "value": 3},
                            {"type": "contains", "value": "\"t0\""}],
             "extract": [{"var": "tag", "path": "tags.1"}], "name": "one"},
            {"method": "find", "database": "t", "collection": name,
             "filter": {"tags": "${tag}", "qty": {"$gte": 10}}, "limit": 2, "expect_min": 2,
             "assertions": [{"type": "json_path", "path": "1.tags.1", "value": "t0"}],
             "name": "many"},
            {"method": "count", "database": "t", "collection": name,
             "filter": {"qty": {"$lt": 5}}, "expect_min": 5,
             "assertions": [{"type": "json_path", "path": "count", "value": 5}], "name": "count"},
        ], users=2, connection=self.url))
        self.assertEqual(s["totals"]["failures"], 0, s["errors"])
        for n in ["one", "many", "count"]:
            self.assertEqual(s["per_name"][n]["request_type"], "MONGO")
            self.assertGreater(s["per_name"][n]["requests"], 5, n)
        self.assertGreater(s["per_name"]["one"]["bytes_received"], 0)

    def test_pymongo_reads_what_loaddensity_wrote(self):
        name, c = self.coll()
        s = self.run_ok(mongo_test([dict(t, url=self.url) for t in [
            {"method": "insert_one", "database": "t", "collection": name,
             "document": {"k": "${uuid()}", "n": {"$numberInt": "${randint(1,9)}"}, "v": 0},
             "extract": [{"var": "id", "path": "insertedId.$oid"}], "name": "insert"},
            {"method": "update_one", "database": "t", "collection": name,
             "filter": {"_id": {"$oid": "${id}"}}, "update": {"$inc": {"v": 5}, "$set": {"s": "u"}},
             "assertions": [{"type": "json_path", "path": "modifiedCount", "value": 1}],
             "name": "update"},
            {"method": "insert_many", "database": "t", "collection": name + "_m",
             "documents": [{"of": "${id}"}, {"of": "${id}", "second": True}], "name": "many"},
            {"method": "update_one", "database": "t", "collection": name + "_u",
             "filter": {"key": "one"}, "update": {"$inc": {"hits": 1}}, "upsert": True,
             "name": "upsert"},
        ]], users=2))
        self.assertEqual(s["totals"]["failures"], 0, s["errors"])
        inserts = s["per_name"]["insert"]["requests"]
        self.assertGreater(inserts, 5)
        self.assertEqual(c.count_documents({}), inserts)
        self.assertEqual(c.count_documents({"v": 5, "s": "u"}), s["per_name"]["update"]["requests"])
        for d in c.find():
            self.assertRegex(d["k"], r"^[0-9a-f-]{36}$")
            self.assertIsInstance(d["n"], int)
            self.assertIn(d["n"], range(1, 10))
        many = self.client["t"][name + "_m"]
        self.assertEqual(many.count_documents({}), 2 * s["per_name"]["many"]["requests"])
        self.assertEqual(many.count_documents({"second": True}), s["per_name"]["many"]["requests"])
        ids = {str(d["_id"]) for d in c.find()}
        self.assertLessEqual({d["of"] for d in many.find()}, ids)
        upserted = list(self.client["t"][name + "_u"].find())
        self.assertEqual(len(upserted), 1, "one upsert, then updates of it")
        self.assertEqual(upserted[0]["hits"], s["per_name"]["upsert"]["requests"])
        # delete_one removes one document per request.
        before = c.count_documents({})
        s = self.run_ok(mongo_test([
            {"method": "delete_one", "database": "t", "collection": name, "filter": {"v": 5},
             "name": "delete", "url": self.url}], test_time=1))
        deleted = s["per_name"]["delete"]["requests"]
        self.assertEqual(c.count_documents({}), max(0, before - deleted))

    def test_failures_have_kinds(self):
        name, c = self.coll()
        c.insert_one({"_id": "a", "status": "open", "text": "x"})
        s = self.run_ok(mongo_test([
            {"method": "find_one", "database": "t", "collection": name, "filter": {"_id": "a"},
             "assertions": [{"type": "json_path", "path": "status", "value": "closed"}],
             "name": "assert"},
            {"method": "find", "database": "t", "collection": name, "expect_min": 2,
             "name": "expect_min"},
            {"method": "find_one", "database": "t", "collection": name, "filter": {"_id": "zz"},
             "expect_min": 1, "name": "none"},
            {"method": "update_one", "database": "t", "collection": name, "filter": {"_id": "a"},
             "update": {"$inc": {"text": 1}}, "name": "server error"},
            {"method": "insert_one", "database": "t", "collection": name,
             "document": {"_id": "a"}, "name": "duplicate"},
        ], connection={"uri": self.url}))
        kinds = {(e["name"], e["kind"]) for e in s["errors"]}
        self.assertEqual(kinds, {("assert", "assertion"), ("expect_min", "assertion"),
                                 ("none", "assertion"), ("server error", "mongo_error"),
                                 ("duplicate", "mongo_error")})
        msgs = {e["name"]: e["message"] for e in s["errors"]}
        self.assertEqual(msgs["expect_min"], "expect_min failed: at least 2 documents")
        self.assertIn("11000", msgs["duplicate"])
        for n in ["assert", "expect_min", "none", "server error", "duplicate"]:
            b = s["per_name"][n]
            self.assertGreater(b["requests"], 0, n)
            self.assertEqual(b["failures"], b["requests"], n)

    def test_server_down_counts_failures_and_the_run_goes_on(self):
        down = f"mongodb://127.0.0.1:{free_port()}"
        r = self.run_doc(doc(mongo_test([
            {"method": "find_one", "collection": "c", "timeout": 0.5, "name": "down"},
        ], users=2, test_time=2, connection={"uri": down, "timeout_ms": 300})), timeout=60)
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        b = s["per_name"]["down"]
        self.assertGreater(b["requests"], 1)
        self.assertEqual(b["failures"], b["requests"])
        self.assertLessEqual({e["kind"] for e in s["errors"]}, {"refused", "timeout"})
        self.assertIn("refused", {e["kind"] for e in s["errors"]}, s["errors"])

    def test_bad_input_exits_2_before_anything_runs(self):
        for task, needle in [
            ({"method": "find_onne", "collection": "c"}, "did you mean 'find_one'?"),
            ({"method": "find"}, "/tasks/0/collection"),
            ({"method": "find", "collection": "c", "filter": {"_id": {"$oid": "zz"}}},
             "/tasks/0/filter"),
            ({"method": "insert_many", "collection": "c", "documents": [1]},
             "/tasks/0/documents/0"),
            ({"method": "update_one", "collection": "c", "update": {"a": 1}}, "/tasks/0/update/a"),
            ({"method": "find", "collection": "c", "url": "mongodb://"}, "/tasks/0/url"),
            ({"method": "find", "collection": "c", "url": "http://h"}, "/tasks/0/url"),
        ]:
            with self.subTest(task=task):
                r = self.run_doc(doc(mongo_test([task], connection=self.url)))
                self.assertEqual(r.code, 2, (task, r.out, r.err))
                self.assertIn(needle, r.err + r.out)
                self.assertFalse(r.exists("summary.json"))
        r = self.run_doc(doc(mongo_test([{"method": "count", "collection": "c"}],
                                        connection={"uri": 5})))
        self.assertEqual(r.code, 2)
        self.assertIn("/connection/uri", r.err + r.out)
