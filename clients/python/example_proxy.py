"""A runnable, minimal cache-aware completion proxy built on conductor_client (standard library only).

    python3 example_proxy.py --conductor 127.0.0.1:13333 --model sim-qwen --port 8000 \
        --prefill prefill-0=http://127.0.0.1:8010 --prefill prefill-1=http://127.0.0.1:8011

POST /v1/completions: tokenizes the prompt with the first engine's /tokenize, asks the conductor which instance
holds its longest prefix (round robin when the conductor is unreachable), forwards the request there, reports the
engine's cached tokens back (/feedback) and answers with the engine's body plus headers X-Conductor-Instance,
X-Conductor-Reason and X-Conductor-Fallback. It shows the few lines docs/integration.md adds to a real proxy;
it is not a production proxy (no streaming, no decode hop).
"""

import argparse
import json
import logging
import sys
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from conductor_client import ConductorClient


def post_json(url, body, timeout=60):
    request = urllib.request.Request(url, data=json.dumps(body).encode("utf-8"),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read().decode("utf-8"))


def make_handler(conductor, model, prefill, block_size):
    candidates = list(prefill)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            if self.path != "/v1/completions":
                self.send_error(404)
                return
            request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
            # 1. The prompt's tokens, from an engine's tokenizer (what the engine will hash).
            tokens = post_json(prefill[candidates[0]] + "/tokenize",
                               {"model": model, "prompt": request.get("prompt", "")})["tokens"]
            # 2. The conductor picks the instance (round robin, flagged, when it is unreachable).
            decision = conductor.route(model, tokens, candidates=candidates, block_size=block_size)
            # 3. Forward, then 4. report what the engine really had cached.
            answer = post_json(prefill[decision.instance_id] + "/v1/completions", request)
            cached = answer.get("usage", {}).get("prompt_tokens_details", {}).get("cached_tokens", 0) or 0
            if not decision.fallback:
                conductor.feedback(decision.instance_id, decision.longest_matched, cached)
            payload = json.dumps(answer).encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("X-Conductor-Instance", decision.instance_id)
            self.send_header("X-Conductor-Reason", str(decision.reason))
            self.send_header("X-Conductor-Fallback", "true" if decision.fallback else "false")
            self.send_header("X-Conductor-Predicted-Tokens", str(decision.longest_matched))
            self.send_header("X-Conductor-Cached-Tokens", str(cached))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, fmt, *args):  # keep stdout for the "listening" line
            logging.debug(fmt, *args)

    return Handler


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conductor", required=True, help="host:port of the conductor")
    parser.add_argument("--model", required=True)
    parser.add_argument("--prefill", action="append", required=True, metavar="ID=URL",
                        help="a prefill instance: its conductor instance_id and base URL (repeatable)")
    parser.add_argument("--block-size", type=int, default=16)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--timeout", type=float, default=0.5, help="seconds per conductor call")
    args = parser.parse_args(argv)
    prefill = {}
    for item in args.prefill:
        instance_id, sep, url = item.partition("=")
        if not sep or not instance_id or not url:
            parser.error("--prefill wants ID=URL, got %r" % item)
        prefill[instance_id] = url.rstrip("/")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    conductor = ConductorClient(args.conductor, timeout=args.timeout)
    server = ThreadingHTTPServer((args.host, args.port),
                                 make_handler(conductor, args.model, prefill, args.block_size))
    print("listening on http://%s:%d" % server.server_address[:2], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
