#!/usr/bin/env python3
"""Summary of a `bin/bench compare` run: medians over rounds per daemon and the ratio ours/other.

argv[1] is the run's results.jsonl (lines {"daemon", "round", "step", "result"}); any further arguments are recorded
kvbench RESULT files of the other conductor (run_reference.sh output), used when no other process ran.
"""
import json
import statistics
import sys


def load_tagged(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    return rows


def load_recorded(paths):
    """Maps run_reference.sh's steps onto ours: ingest_1..5 -> warm ingests, ingest_large, query by hit ratio."""
    rows = []
    for rnd, path in enumerate(paths, start=1):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                r = json.loads(line)
                mode, run_id = r.get("mode"), r.get("run_id", "")
                if mode == "ingest" and run_id == "ingL":
                    step = "warm_ingest_large"
                elif mode == "ingest" and run_id.startswith("ing"):
                    step = "warm_ingest_" + run_id[3:]
                elif mode == "query":
                    step = "warm_query_r" + ("%.1f" % r["query"]["hit_ratio"]).replace(".", "")
                else:
                    continue
                rows.append({"daemon": "other", "round": rnd, "step": step, "result": r})
    return rows


def per_round(rows, daemon, step_prefix, extract):
    """Median within each round over the steps starting with step_prefix, then the median over rounds."""
    by_round = {}
    for row in rows:
        if row["daemon"] == daemon and row["step"].startswith(step_prefix):
            v = extract(row["result"])
            if v is not None:
                by_round.setdefault(row["round"], []).append(v)
    if not by_round:
        return None
    return statistics.median(statistics.median(v) for v in by_round.values())


def total(rows, daemon, extract):
    vals = [extract(r["result"]) for r in rows if r["daemon"] == daemon]
    vals = [v for v in vals if v is not None]
    return sum(vals) if vals else None


def ingest_bps(r):
    return r.get("ingest", {}).get("blocks_per_s")


def qps(r):
    return r.get("query", {}).get("qps")


def p99_ms(r):
    q = r.get("query")
    return q["lat_us"]["p99"] / 1000.0 if q else None


def rss_mb(r):
    s = r.get("server")
    return s["rss_kb"] / 1024.0 if s and s.get("rss_kb") else None


def missing(r):
    return r.get("ingest", {}).get("missing_blocks")


def query_errors(r):
    q = r.get("query")
    return q["http_errors"] + q["conn_errors"] + q["mismatches"] if q else None


LINES = [
    # label, step prefix, extractor, unit, higher is better
    ("start: first HTTP answer", "start", lambda r: r.get("first_answer_s"), "s", False),
    ("start: ready (/ready 200, or first answer)", "start", lambda r: r.get("ready_s", r.get("first_answer_s")), "s",
     False),
    ("cold: ingest (3 short runs after start)", "cold_ingest_", ingest_bps, "blocks/s", True),
    ("cold: /query 100% hit, first seconds, QPS", "cold_query_r100", qps, "QPS", True),
    ("cold: /query 100% hit, first seconds, p99", "cold_query_r100", p99_ms, "ms", False),
    ("warm: ingest (median of 3)", "warm_ingest_", ingest_bps, "blocks/s", True),
    ("warm: /query 100% hit, QPS", "warm_query_r10", qps, "QPS", True),
    ("warm: /query 100% hit, p99", "warm_query_r10", p99_ms, "ms", False),
    ("warm: /query 50% hit, QPS", "warm_query_r05", qps, "QPS", True),
    ("warm: /query 50% hit, p99", "warm_query_r05", p99_ms, "ms", False),
    ("warm: /query 0% hit, QPS", "warm_query_r00", qps, "QPS", True),
    ("warm: /query 0% hit, p99", "warm_query_r00", p99_ms, "ms", False),
    ("large ingest (1.28M blocks)", "warm_ingest_large", ingest_bps, "blocks/s", True),
    ("RSS after the large ingest", "warm_ingest_large", rss_mb, "MB", False),
]


def fmt(v, unit):
    if v is None:
        return "-"
    if unit in ("blocks/s", "QPS"):
        return "%.1fk" % (v / 1000.0)
    if unit == "ms":
        return "%.2f ms" % v
    if unit == "MB":
        return "%.0f MB" % v
    return "%.2f %s" % (v, unit)


def main():
    rows = load_tagged(sys.argv[1]) + load_recorded(sys.argv[2:])
    rounds = len({r["round"] for r in rows if r["daemon"] == "ours"})
    print("| | other | ours | ratio ours/other |")
    print("|---|---|---|---|")
    for label, prefix, extract, unit, higher in LINES:
        # "warm_ingest_" must not match "warm_ingest_large".
        src = [r for r in rows if not (prefix == "warm_ingest_" and r["step"] == "warm_ingest_large")]
        o = per_round(src, "other", prefix, extract)
        u = per_round(src, "ours", prefix, extract)
        ratio = "-" if o in (None, 0) or u is None else "%.2fx%s" % (u / o, "" if higher else " (lower is better)")
        print("| %s | %s | %s | %s |" % (label, fmt(o, unit), fmt(u, unit), ratio))
    for who in ("other", "ours"):
        m = total(rows, who, missing)
        e = total(rows, who, query_errors)
        print("\n%s: missing blocks %s, query errors+mismatches %s" % (who, m if m is not None else "-",
                                                                      e if e is not None else "-"), end="")
    print("\n\nmedians over %d round(s); within a round, the median of its repeated steps" % rounds)


if __name__ == "__main__":
    main()
