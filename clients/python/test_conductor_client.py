"""Tests of conductor_client against a real conductor (run by tests/.../PythonClientIT, or by hand).

Environment: CONDUCTOR_ADDRESS (a running conductor), CONDUCTOR_TEST_MODEL, CONDUCTOR_TEST_BLOCK_SIZE,
CONDUCTOR_TEST_TOKENS (JSON token ids of a prompt the instance CONDUCTOR_TEST_CACHED_INSTANCE holds),
CONDUCTOR_TEST_OTHER_INSTANCE (another registered instance), CONDUCTOR_TEST_DEAD_ADDRESS (host:port where nothing
listens). Every test runs twice: msgpack and JSON on the wire.
"""

import json
import os
import socket
import threading
import time
import unittest

import conductor_client
from conductor_client import ConductorClient, ConductorError, ConductorUnavailable

ENV = os.environ


def env_tokens():
    return json.loads(ENV["CONDUCTOR_TEST_TOKENS"])


@unittest.skipUnless("CONDUCTOR_ADDRESS" in ENV, "CONDUCTOR_ADDRESS not set: needs a running conductor")
class LiveConductorMsgpack(unittest.TestCase):
    use_msgpack = True

    def setUp(self):
        if self.use_msgpack and conductor_client.msgpack is None:
            self.fail("msgpack is not importable: install python3-msgpack")
        self.client = ConductorClient(ENV["CONDUCTOR_ADDRESS"], timeout=5, use_msgpack=self.use_msgpack)
        self.model = ENV["CONDUCTOR_TEST_MODEL"]
        self.block = int(ENV["CONDUCTOR_TEST_BLOCK_SIZE"])
        self.cached = ENV["CONDUCTOR_TEST_CACHED_INSTANCE"]
        self.other = ENV["CONDUCTOR_TEST_OTHER_INSTANCE"]

    def test_query_reports_the_cached_prefix(self):
        answer = self.client.query(self.model, env_tokens(), block_size=self.block)
        self.assertFalse(answer.fallback)
        self.assertGreaterEqual(answer.longest_matched(self.cached), 2 * self.block, answer)
        self.assertEqual(0, answer.longest_matched(self.other), answer)

    def test_route_picks_the_instance_holding_the_prefix(self):
        decision = self.client.route(self.model, env_tokens(), candidates=[self.other, self.cached],
                                     block_size=self.block)
        self.assertFalse(decision.fallback)
        self.assertEqual(self.cached, decision.instance_id, decision)
        self.assertEqual("longest_prefix", decision.reason)
        self.assertGreaterEqual(decision.longest_matched, 2 * self.block)

    def test_feedback_is_accepted(self):
        self.assertTrue(self.client.feedback(self.cached, 32, 16))

    def test_register_and_unregister_round_trip(self):
        instance = "py-client-%s" % ("msgpack" if self.use_msgpack else "json")
        dead_port = int(ENV["CONDUCTOR_TEST_DEAD_ADDRESS"].rsplit(":", 1)[1])
        endpoint = "tcp://127.0.0.1:%d" % (dead_port if self.use_msgpack else dead_port + 1)
        answer = self.client.register(endpoint, self.model, instance, self.block, dp_rank=0,
                                      hash_profile={"strategy": "vllm_v1", "algorithm": "sha256",
                                                    "python_hash_seed": "0", "index_projection": "low64_be"})
        self.assertEqual(instance, answer.get("instance_id"), answer)
        answer = self.client.unregister(instance, dp_rank=0)
        self.assertIn("removed_instances", answer)
        with self.assertRaises(ConductorError) as raised:
            self.client.unregister(instance, dp_rank=0)
        self.assertEqual(404, raised.exception.status)

    def test_a_bad_request_raises_with_the_conductors_reason(self):
        with self.assertRaises(ConductorError) as raised:
            self.client.query(self.model, env_tokens(), block_size=0)
        self.assertEqual(400, raised.exception.status)
        self.assertEqual("out_of_range", raised.exception.reason)
        self.assertEqual("block_size", raised.exception.field)


class LiveConductorJson(LiveConductorMsgpack):
    use_msgpack = False


class Unreachable(unittest.TestCase):
    """Nothing listens: every call falls back (or raises, for the admin calls) within its timeout."""

    def setUp(self):
        self.client = ConductorClient(ENV.get("CONDUCTOR_TEST_DEAD_ADDRESS", "127.0.0.1:9"), timeout=1)

    def test_route_falls_back_to_round_robin_and_says_so(self):
        with self.assertLogs("conductor_client", level="WARNING") as logs:
            picks = [self.client.route("m", [1, 2, 3], candidates=["a", "b", "c"]) for _ in range(6)]
        self.assertTrue(all(p.fallback for p in picks))
        self.assertTrue(all(p.reason == conductor_client.FALLBACK_REASON for p in picks))
        self.assertEqual(["a", "b", "c", "a", "b", "c"], [p.instance_id for p in picks])
        self.assertEqual(1, len(logs.output), "one warning per outage: %s" % logs.output)
        self.assertIn("unreachable", logs.output[0])

    def test_query_and_feedback_degrade_and_admin_calls_raise(self):
        with self.assertLogs("conductor_client", level="WARNING"):
            answer = self.client.query("m", [1, 2, 3])
        self.assertTrue(answer.fallback)
        self.assertEqual({}, answer.instances)
        self.assertFalse(self.client.feedback("a", 1, 1))
        with self.assertRaises(ConductorUnavailable):
            self.client.register("tcp://127.0.0.1:1", "m", "a", 16)
        with self.assertRaises(ConductorUnavailable):
            self.client.route("m", [1, 2, 3])  # no candidates: nothing to fall back on

    def test_a_silent_conductor_times_out_into_the_fallback(self):
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(8)  # accepts connections, never answers
        accepted = []
        stop = threading.Event()

        def accept():
            server.settimeout(0.2)
            while not stop.is_set():
                try:
                    accepted.append(server.accept()[0])
                except OSError:
                    pass

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        try:
            client = ConductorClient("127.0.0.1:%d" % server.getsockname()[1], timeout=0.3)
            start = time.monotonic()
            with self.assertLogs("conductor_client", level="WARNING"):
                decision = client.route("m", [1, 2, 3], candidates=["x", "y"])
            self.assertTrue(decision.fallback)
            self.assertIn(decision.instance_id, ("x", "y"))
            self.assertLess(time.monotonic() - start, 5.0, "the timeout bounds the call")
        finally:
            stop.set()
            thread.join()
            for conn in accepted:
                conn.close()
            server.close()


@unittest.skipUnless("CONDUCTOR_ADDRESS" in ENV, "CONDUCTOR_ADDRESS not set: needs a running conductor")
class Failover(unittest.TestCase):
    """Replicas: a dead first address fails over to the live one, which then stays current."""

    def test_a_dead_replica_fails_over_to_a_live_one_and_stays_there(self):
        dead = ENV.get("CONDUCTOR_TEST_DEAD_ADDRESS", "127.0.0.1:9")
        client = ConductorClient([dead, ENV["CONDUCTOR_ADDRESS"]], timeout=5)
        model, block = ENV["CONDUCTOR_TEST_MODEL"], int(ENV["CONDUCTOR_TEST_BLOCK_SIZE"])
        cached, other = ENV["CONDUCTOR_TEST_CACHED_INSTANCE"], ENV["CONDUCTOR_TEST_OTHER_INSTANCE"]
        with self.assertLogs("conductor_client", level="WARNING") as logs:
            decision = client.route(model, env_tokens(), candidates=[other, cached], block_size=block)
        self.assertFalse(decision.fallback, "a live replica answered, no round robin")
        self.assertEqual(cached, decision.instance_id)
        self.assertIn("failed over to", "\n".join(logs.output))
        self.assertEqual(conductor_client._base_url(ENV["CONDUCTOR_ADDRESS"]), client.address)
        answer = client.query(model, env_tokens(), block_size=block)  # straight to the current replica
        self.assertFalse(answer.fallback)
        self.assertGreater(answer.longest_matched(cached), 0)

    def test_every_replica_dead_falls_back_once(self):
        dead = ENV.get("CONDUCTOR_TEST_DEAD_ADDRESS", "127.0.0.1:9")
        client = ConductorClient([dead, "127.0.0.1:1"], timeout=1)
        with self.assertLogs("conductor_client", level="WARNING") as logs:
            decision = client.route("m", [1, 2, 3], candidates=["a", "b"])
        self.assertTrue(decision.fallback)
        self.assertEqual(1, len(logs.output), logs.output)


class AddressHandling(unittest.TestCase):
    def test_several_addresses_keep_their_order_without_duplicates(self):
        client = ConductorClient(["h:1", "http://h:2/", "h:1"])
        self.assertEqual(["http://h:1", "http://h:2"], client.addresses)
        self.assertEqual("http://h:1", client.address)
        self.assertEqual(["http://a:1", "http://b:2"], ConductorClient("a:1, b:2").addresses)
        with self.assertRaises(ValueError):
            ConductorClient([])

    def test_addresses_normalise_in_one_place(self):
        self.assertEqual("http://h:1", ConductorClient("h:1").address)
        self.assertEqual("http://h:1", ConductorClient("http://h:1/").address)
        self.assertEqual("https://h:1", ConductorClient(" https://h:1 ").address)
        with self.assertRaises(ValueError):
            ConductorClient("  ")


if __name__ == "__main__":
    unittest.main()
