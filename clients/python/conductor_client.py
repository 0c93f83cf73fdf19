"""A client for the conductor's HTTP API, for Python proxies. One file: copy it into your project.

Needs only the standard library; speaks msgpack (the reference conductor's wire format) when the ``msgpack``
package is importable, else JSON (the conductor answers each request in the format it was sent in).

    from conductor_client import ConductorClient

    conductor = ConductorClient("127.0.0.1:13333", timeout=0.5)
    # or, with replicas (docs/operations.md, "High availability"): failover between them
    conductor = ConductorClient(["10.0.0.11:13333", "10.0.0.12:13333", "10.0.0.13:13333"], timeout=0.5)
    decision = conductor.route("Qwen/Qwen3-8B", token_ids, candidates=["prefill-0", "prefill-1"], block_size=16)
    url = prefill_urls[decision.instance_id]        # decision.fallback is True when the conductor was unreachable

Every call has a timeout. With several addresses (replicas of one conductor cluster), a call that cannot reach
the current replica (connection refused, timeout, 5xx) is tried on the next ones in turn, and the first that
answers becomes the current replica (logged once per switch). ``route()`` never fails for a proxy: when no
conductor can be reached, it picks the next candidate round robin, logs a warning (once per outage, and the
recovery) and returns a decision with ``fallback=True`` and ``reason="fallback_round_robin"``. ``query()`` then
returns an empty answer with ``fallback=True``; ``feedback()`` returns False. ``register()`` and ``unregister()``
are administrative and raise ``ConductorUnavailable`` instead. A 4xx answer is the caller's mistake and raises
``ConductorError`` with the conductor's reason, from every method.

Thread-safe: one client may be shared by every request handler of a proxy (no per-call state beyond a counter
under a lock).
"""

import itertools
import json
import logging
import socket
import struct
import threading
import urllib.error
import urllib.request

try:
    import msgpack  # type: ignore
except ImportError:  # pragma: no cover - exercised by the JSON tests
    msgpack = None

__all__ = ["ConductorClient", "ConductorError", "ConductorUnavailable", "RouteDecision", "QueryAnswer"]

LOG = logging.getLogger("conductor_client")

FALLBACK_REASON = "fallback_round_robin"


class ConductorUnavailable(Exception):
    """The conductor could not be reached (refused, timed out) or failed (5xx). ``reason`` is the conductor's
    reason when it answered (e.g. ``cluster_unavailable``: etcd is down for every replica, so no failover)."""

    def __init__(self, message, reason=None):
        super().__init__(message)
        self.reason = reason


class ConductorError(Exception):
    """The conductor refused the request (4xx): ``status``, ``reason`` and ``field`` say why."""

    def __init__(self, status, body):
        self.status = status
        self.body = body if isinstance(body, dict) else {"error": str(body)}
        self.reason = self.body.get("reason")
        self.field = self.body.get("field")
        super().__init__("HTTP %d: %s" % (status, self.body.get("error", self.body)))


class RouteDecision:
    """Where to send a prompt.

    ``instance_id``: the chosen instance; ``longest_matched``: tokens it already holds (0 on fallback);
    ``reason``: the conductor's reason, or ``fallback_round_robin``; ``fallback``: True when the conductor was
    not consulted; ``raw``: the conductor's whole answer (empty on fallback).
    """

    __slots__ = ("instance_id", "longest_matched", "reason", "fallback", "raw")

    def __init__(self, instance_id, longest_matched, reason, fallback, raw):
        self.instance_id = instance_id
        self.longest_matched = longest_matched
        self.reason = reason
        self.fallback = fallback
        self.raw = raw

    def __repr__(self):
        return "RouteDecision(instance_id=%r, longest_matched=%r, reason=%r, fallback=%r)" % (
            self.instance_id, self.longest_matched, self.reason, self.fallback)


class QueryAnswer:
    """Per-instance cache hits of a prompt: ``instances`` maps an instance id to its entry (``longest_matched``,
    ``gpu``, ``cpu``, ``disk``, ``dp``, ...); ``fallback`` is True (and ``instances`` empty) when the conductor was
    unreachable."""

    __slots__ = ("instances", "fallback")

    def __init__(self, instances, fallback):
        self.instances = instances
        self.fallback = fallback

    def longest_matched(self, instance_id):
        """Tokens the instance holds as a prefix of the prompt (0 when unknown)."""
        return int(self.instances.get(instance_id, {}).get("longest_matched", 0))

    def __repr__(self):
        return "QueryAnswer(instances=%r, fallback=%r)" % (self.instances, self.fallback)


def _base_urls(address):
    """One address, a comma-separated string of them, or a list -> the base URLs, in order, without duplicates."""
    if isinstance(address, str):
        parts = address.split(",")
    else:
        parts = list(address)
    bases = []
    for part in parts:
        base = _base_url(part)
        if base not in bases:
            bases.append(base)
    if not bases:
        raise ValueError("conductor address must not be empty")
    return bases


def _base_url(address):
    """``host:port`` or ``http(s)://host:port[/]`` -> the base URL without a trailing slash."""
    address = address.strip()
    if not address:
        raise ValueError("conductor address must not be empty")
    if "://" not in address:
        address = "http://" + address
    return address.rstrip("/")


class ConductorClient:
    """A conductor at ``address`` (``host:port`` or a URL), or replicas of one at several addresses (a list, or a
    comma-separated string), tried in turn when the current one cannot be reached.

    ``timeout``: seconds per call (connect and read), small by default because a proxy waits on it;
    ``admin_key``: sent as ``X-API-Key`` to ``register``/``unregister`` (``CONDUCTOR_ADMIN_API_KEY``);
    ``use_msgpack``: force the wire format (default: msgpack when importable).
    """

    def __init__(self, address, timeout=0.5, admin_key=None, use_msgpack=None, logger=None):
        # The one place that knows the addresses; everything else goes through _post.
        self._bases = _base_urls(address)
        self._current = 0
        self.timeout = float(timeout)
        self.admin_key = admin_key
        if use_msgpack and msgpack is None:
            raise ValueError("use_msgpack=True but the msgpack package is not installed")
        self.use_msgpack = msgpack is not None if use_msgpack is None else bool(use_msgpack)
        self._log = logger or LOG
        self._lock = threading.Lock()
        self._turn = itertools.count()
        self._down = False

    @property
    def address(self):
        """The current conductor's base URL (the replica the last call reached, else the first)."""
        return self._bases[self._current]

    @property
    def addresses(self):
        """Every configured base URL, in order."""
        return list(self._bases)

    # ------------------------------------------------------------------ API

    def route(self, model, token_ids, candidates=None, block_size=16, loads=None, tenant_id=None,
              lora_name=None, cache_salt=None):
        """The instance to send a prompt to (``POST /route``).

        ``candidates``: instance ids to choose among (default: every instance the conductor knows for the
        model; then a fallback is impossible and an unreachable conductor raises ``ConductorUnavailable``).
        ``loads``: in-flight requests per candidate, for the conductor's hot-spot guard.
        """
        body = self._prompt(model, token_ids, block_size, tenant_id, lora_name, cache_salt)
        if candidates is not None:
            candidates = list(candidates)
            if not candidates:
                raise ValueError("candidates must not be empty")
            body["candidates"] = candidates
        if loads:
            body["loads"] = {str(k): int(v) for k, v in loads.items()}
        try:
            answer = self._post("/route", body)
        except ConductorUnavailable as e:
            if not candidates:
                raise
            return self._fallback_route(candidates, e)
        return RouteDecision(answer["instance_id"], int(answer.get("longest_matched", 0)), answer.get("reason"),
                             False, answer)

    def query(self, model, token_ids, block_size=16, tenant_id=None, lora_name=None, cache_salt=None,
              instance_id=None):
        """Every instance's cache hits for a prompt (``POST /query``); empty with ``fallback=True`` when the
        conductor is unreachable."""
        body = self._prompt(model, token_ids, block_size, tenant_id, lora_name, cache_salt)
        if instance_id is not None:
            body["instance_id"] = instance_id
        try:
            answer = self._post("/query", body)
        except ConductorUnavailable as e:
            self._went_down(e)
            return QueryAnswer({}, True)
        return QueryAnswer(answer.get("instances", {}), False)

    def feedback(self, instance_id, predicted_tokens, cached_tokens):
        """Reports what the engine had cached (vLLM's ``usage.prompt_tokens_details.cached_tokens``) next to the
        prediction (``POST /feedback``). Returns False when the conductor is unreachable (logged, not raised)."""
        body = {"instance_id": instance_id, "predicted_tokens": int(predicted_tokens),
                "cached_tokens": int(cached_tokens)}
        try:
            self._post("/feedback", body)
            return True
        except ConductorUnavailable as e:
            self._went_down(e)
            return False

    def register(self, endpoint, modelname, instance_id, block_size, dp_rank=0, replay_endpoint="",
                 type="vLLM", tenant_id=None, hash_profile=None, **extra):
        """Subscribes the conductor to an engine's KV-event stream (``POST /register``); one call per DP rank.
        ``hash_profile``: e.g. ``{"strategy": "vllm_v1", "algorithm": "sha256", "python_hash_seed": "0",
        "index_projection": "low64_be"}``; without it the stream is indexed in token-rehash mode."""
        body = {"endpoint": endpoint, "replay_endpoint": replay_endpoint, "type": type, "modelname": modelname,
                "instance_id": instance_id, "block_size": int(block_size), "dp_rank": int(dp_rank)}
        if tenant_id is not None:
            body["tenant_id"] = tenant_id
        if hash_profile is not None:
            body["hash_profile"] = dict(hash_profile)
        body.update(extra)
        return self._post("/register", body, admin=True)

    def unregister(self, instance_id, dp_rank=0, tenant_id=None):
        """Stops a subscription and removes what it contributed (``POST /unregister``)."""
        body = {"instance_id": instance_id, "dp_rank": int(dp_rank)}
        if tenant_id is not None:
            body["tenant_id"] = tenant_id
        return self._post("/unregister", body, admin=True)

    # ------------------------------------------------------------------ plumbing

    def _prompt(self, model, token_ids, block_size, tenant_id, lora_name, cache_salt):
        tokens = [int(t) for t in token_ids]
        body = {"model": model, "block_size": int(block_size)}
        if self.use_msgpack:
            body["token_ids"] = struct.pack("<%di" % len(tokens), *tokens)  # bin of little-endian int32
        else:
            body["token_ids"] = tokens
        if tenant_id is not None:
            body["tenant_id"] = tenant_id
        if lora_name is not None:
            body["lora_name"] = lora_name
        if cache_salt is not None:
            body["cache_salt"] = cache_salt
        return body

    def _fallback_route(self, candidates, error):
        self._went_down(error)
        with self._lock:
            turn = next(self._turn)
        return RouteDecision(candidates[turn % len(candidates)], 0, FALLBACK_REASON, True, {})

    def _went_down(self, error):
        with self._lock:
            first = not self._down
            self._down = True
        if first:
            self._log.warning("conductor %s unreachable (%s): routing round robin until it answers again",
                              ", ".join(self._bases), error)

    def _came_back(self):
        if self._down:
            with self._lock:
                was_down, self._down = self._down, False
            if was_down:
                self._log.warning("conductor %s answers again: cache-aware routing resumed", self.address)

    def _post(self, path, body, admin=False):
        """Posts to the current replica, then to the others in turn while one cannot be reached."""
        with self._lock:
            start = self._current
        last = None
        for step in range(len(self._bases)):
            index = (start + step) % len(self._bases)
            try:
                answer = self._post_to(self._bases[index], path, body, admin)
            except ConductorUnavailable as e:
                last = e
                if e.reason == "cluster_unavailable":
                    break  # the shared registration store is down for every replica: asking another won't help
                continue
            if index != start:
                with self._lock:
                    self._current = index
                self._log.warning("conductor %s unreachable (%s): failed over to %s", self._bases[start],
                                  last, self._bases[index])
            self._came_back()
            return answer
        raise last

    def _post_to(self, base, path, body, admin):
        if self.use_msgpack:
            data = msgpack.packb(body, use_bin_type=True)
            content_type = "application/msgpack"
        else:
            data = json.dumps(body).encode("utf-8")
            content_type = "application/json"
        headers = {"Content-Type": content_type, "Accept": content_type}
        if admin and self.admin_key:
            headers["X-API-Key"] = self.admin_key
        request = urllib.request.Request(base + path, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = self._decode(response.headers.get("Content-Type", ""), response.read())
        except urllib.error.HTTPError as e:
            answer = self._decode(e.headers.get("Content-Type", "") if e.headers else "", e.read())
            if e.code >= 500:
                raise ConductorUnavailable("HTTP %d from %s%s: %s" % (e.code, base, path, answer),
                                           answer.get("reason") if isinstance(answer, dict) else None) from e
            self._came_back()
            raise ConductorError(e.code, answer) from e
        except (urllib.error.URLError, socket.timeout, ConnectionError, TimeoutError) as e:
            raise ConductorUnavailable("%s%s: %s" % (base, path, getattr(e, "reason", e))) from e
        return answer

    @staticmethod
    def _decode(content_type, payload):
        if not payload:
            return {}
        try:
            if "msgpack" in content_type and msgpack is not None:
                return msgpack.unpackb(payload, raw=False, strict_map_key=False)
            return json.loads(payload.decode("utf-8"))
        except Exception:  # a body we cannot read is still an answer: keep its text
            return {"error": payload[:500].decode("utf-8", "replace")}
