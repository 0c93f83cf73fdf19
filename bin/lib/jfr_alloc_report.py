#!/usr/bin/env python3
"""Allocation profile from a JFR recording: bytes allocated by class, by first conductor/Javalin frame, by thread.

usage: jfr print --json --events jdk.ObjectAllocationSample REC.jfr > alloc.json
       python3 bin/lib/jfr_alloc_report.py alloc.json [REQUESTS]
The weights of jdk.ObjectAllocationSample add up to an estimate of all bytes allocated while recording; with
REQUESTS (the requests answered while recording) it also prints bytes per request.
"""
import collections
import json
import sys


def main():
    events = json.load(open(sys.argv[1]))["recording"]["events"]
    requests = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    total = 0
    by_class, by_frame, by_thread = collections.Counter(), collections.Counter(), collections.Counter()
    for event in events:
        v = event["values"]
        weight = v["weight"]
        total += weight
        by_class[v["objectClass"]["name"]] += weight
        frames = v["stackTrace"]["frames"] if v.get("stackTrace") else []
        key = None
        for frame in frames:
            name = frame["method"]["type"]["name"] + "." + frame["method"]["name"]
            if name.startswith(("io.conductor", "io/conductor", "io.javalin", "io/javalin")):
                key = name
                break
        if key is None and frames:
            key = frames[0]["method"]["type"]["name"] + "." + frames[0]["method"]["name"]
        by_frame[key or "?"] += weight
        thread = v.get("eventThread") or {}
        by_thread[(thread.get("javaName") or "?").rstrip("0123456789-")] += weight
    print("allocated (estimate): %.1f MB" % (total / 1e6) +
          (", %d requests, %.0f B per request" % (requests, total / requests) if requests else ""))
    for title, counter in (("by class", by_class), ("by first conductor/Javalin frame (else top frame)", by_frame),
                           ("by thread pool", by_thread)):
        print("\n" + title)
        for key, weight in counter.most_common(12):
            print("  %7.1f MB %5.1f%%  %s" % (weight / 1e6, 100.0 * weight / total, key))


if __name__ == "__main__":
    main()
