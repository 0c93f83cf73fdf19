#!/usr/bin/env bash
# bin/bench compare: our daemon against another conductor, side by side, interleaved, cold and warm, with kvbench.
# Sourced by bin/bench with HOME_DIR and JAVA set; run "bin/bench compare --help" for the options.
#
# One round, for each daemon in turn (the order alternates between rounds so neither always runs on a machine the
# other just warmed):
#   cold  a freshly started process: time to its first HTTP answer and to its first 200 from /ready (a conductor
#         without /ready is ready at its first answer); from then, 3 short ingests, then /query at 100% hit for
#         the first --cold-seconds with no warm-up;
#   warm  the same process afterwards: 3 more short ingests (median), /query at 100%, 50% and 0% hit after 1 s of
#         warm-up, then the 1.28M-block ingest and the RSS after it.
# Every kvbench RESULT line goes to OUT/results.jsonl tagged with the daemon, round and step; the summary prints
# medians over rounds and the ratio ours/other for each line.

compare_usage() {
    cat <<'EOF'
usage: bin/bench compare (--other-cmd CMD --other-port N | --other-url URL --other-pid PID | --other-recorded FILE...)
                         [--rounds N] [--out DIR] [--quick] [--netns NAME] [--ours-opts OPTS] [--kvbench PATH]

  --other-cmd CMD        shell command that runs the other conductor in the foreground, serving HTTP on
                         127.0.0.1:--other-port with no subscriptions; it is started fresh for every round
                         (cold sets need this) and stopped with SIGTERM
  --other-port N         its HTTP port (default 13391)
  --other-url URL        an already-running other conductor (warm sets only; the cold lines stay empty)
  --other-pid PID        its PID, for CPU and RSS (with --other-url)
  --other-recorded F...  no other process: compare against recorded kvbench RESULT lines (run_reference.sh output,
                         e.g. ../shared/bench/results/cpp-reference-*/run*.jsonl); warm only, not interleaved
  --rounds N             interleaved rounds (default 3)
  --out DIR              raw output and results.jsonl (default target/bench-compare/<UTC time>)
  --quick                short durations, one round: a smoke run of the script, not a result
  --netns NAME           run daemons and kvbench inside this network namespace (created, loopback only, if missing)
  --ours-opts OPTS       CONDUCTOR_JAVA_OPTS for our daemon (default: the launcher's defaults)
  --ours-port N          our HTTP port (default 13392)
  --kvbench PATH         the kvbench binary (default: built from --kvbench-src into OUT)
  --kvbench-src DIR      kvbench's sources (default: ../shared/bench beside the checkout)
EOF
}

compare_main() {
    local other_cmd="" other_port=13391 other_url="" other_pid="" rounds=3 out="" quick=0 netns="" ours_opts=""
    local ours_port=13392 kvbench="" kvbench_src="$HOME_DIR/../shared/bench"
    local -a recorded=()
    while [ $# -gt 0 ]; do
        case "$1" in
            --other-cmd) other_cmd="$2"; shift 2 ;;
            --other-port) other_port="$2"; shift 2 ;;
            --other-url) other_url="$2"; shift 2 ;;
            --other-pid) other_pid="$2"; shift 2 ;;
            --other-recorded) shift; while [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; do recorded+=("$1"); shift; done ;;
            --rounds) rounds="$2"; shift 2 ;;
            --out) out="$2"; shift 2 ;;
            --quick) quick=1; rounds=1; shift ;;
            --netns) netns="$2"; shift 2 ;;
            --ours-opts) ours_opts="$2"; shift 2 ;;
            --ours-port) ours_port="$2"; shift 2 ;;
            --kvbench) kvbench="$2"; shift 2 ;;
            --kvbench-src) kvbench_src="$2"; shift 2 ;;
            -h|--help) compare_usage; return 0 ;;
            *) echo "bench compare: unknown option '$1' (see bin/bench compare --help)" >&2; return 2 ;;
        esac
    done
    local modes=0
    [ -n "$other_cmd" ] && modes=$((modes + 1))
    [ -n "$other_url" ] && modes=$((modes + 1))
    [ ${#recorded[@]} -gt 0 ] && modes=$((modes + 1))
    if [ "$modes" != 1 ]; then
        echo "bench compare: give exactly one of --other-cmd, --other-url or --other-recorded (see --help)" >&2
        return 2
    fi
    command -v python3 >/dev/null 2>&1 || { echo "bench compare: python3 is needed for the summary" >&2; return 1; }
    command -v curl >/dev/null 2>&1 || { echo "bench compare: curl is needed to wait for the daemons" >&2; return 1; }

    [ -n "$out" ] || out="$HOME_DIR/target/bench-compare/$(date -u +%Y%m%dT%H%M%SZ)"
    mkdir -p "$out"
    out="$(cd "$out" && pwd)"
    : >"$out/results.jsonl"

    # kvbench: build a private copy (shared/ may be read-only) unless one is given.
    if [ -z "$kvbench" ]; then
        local src="$kvbench_src"
        [ -f "$src/kvbench.c" ] || { echo "bench compare: $src/kvbench.c not found; pass --kvbench-src DIR or --kvbench PATH" >&2; return 1; }
        mkdir -p "$out/kvbench-build"
        cp "$src/kvbench.c" "$src/Makefile" "$out/kvbench-build/"
        if ! make -s -C "$out/kvbench-build" >"$out/kvbench-build/make.log" 2>&1; then
            echo "bench compare: building kvbench failed (needs: apt-get install -y build-essential libzmq3-dev libssl-dev); see $out/kvbench-build/make.log" >&2
            return 1
        fi
        kvbench="$out/kvbench-build/kvbench"
    fi

    local -a ns=()
    if [ -n "$netns" ]; then
        if ! ip netns list | grep -qw "$netns"; then
            ip netns add "$netns" && ip netns exec "$netns" ip link set lo up || {
                echo "bench compare: cannot create network namespace $netns (needs root and iproute2)" >&2; return 1; }
        fi
        ns=(ip netns exec "$netns")
    fi

    # Our daemon: build once now, so no start below compiles.
    "$HOME_DIR/bin/mooncake_conductor" --version >/dev/null
    printf '{"http_server_port": %s, "kvevent_instance": {}}\n' "$ours_port" >"$out/ours.json"

    local ingest_args=(--engines 4 --batches 2000 --blocks-per-batch 16 --block-size 16)
    local large_args=(--engines 4 --batches 20000 --seqs 16 --blocks-per-batch 16 --block-size 16)
    local qdur=10 cold_s=8
    if [ "$quick" = 1 ]; then
        large_args=(--engines 4 --batches 4000 --seqs 16 --blocks-per-batch 16 --block-size 16)
        qdur=3; cold_s=3
    fi
    local port_seq=0
    next_base_port() { port_seq=$((port_seq + 1)); echo $((46000 + port_seq * 8)); }

    # kvb DAEMON ROUND STEP URL PID kvbench-args...: one kvbench call, RESULT tagged into results.jsonl.
    kvb() {
        local who=$1 round=$2 step=$3 url=$4 pid=$5; shift 5
        local log="$out/$who-r$round-$step.txt"
        "${ns[@]}" "$kvbench" "$@" --conductor "$url" ${pid:+--server-pid "$pid"} >"$log" 2>&1 || true
        local line
        line=$(grep '^RESULT ' "$log" | tail -n 1 | sed 's/^RESULT //')
        if [ -z "$line" ]; then
            echo "bench compare: $who round $round $step produced no RESULT (see $log)" >&2
            return 0
        fi
        printf '{"daemon":"%s","round":%s,"step":"%s","result":%s}\n' "$who" "$round" "$step" "$line" >>"$out/results.jsonl"
        grep -E '^\[(ingest|query)\] (end-to-end|qps|latency)|^\[query\]' "$log" | tail -n 2 | sed "s/^/  $who r$round $step: /"
    }

    # wait_http URL SECONDS: polls until any HTTP answer; prints the seconds it took.
    wait_http() {
        local url=$1 limit=$2 t0 now
        t0=$(date +%s.%N)
        while :; do
            if "${ns[@]}" curl -s -o /dev/null --max-time 1 "$url/health" || "${ns[@]}" curl -s -o /dev/null --max-time 1 "$url/"; then
                now=$(date +%s.%N); python3 -c "print(round($now - $t0, 3))"; return 0
            fi
            now=$(date +%s.%N)
            python3 -c "import sys; sys.exit(0 if $now - $t0 < $limit else 1)" || return 1
            sleep 0.02
        done
    }

    # one_set DAEMON ROUND URL PID COLD(0|1)
    one_set() {
        local who=$1 round=$2 url=$3 pid=$4 cold=$5 i bp
        local run="${who:0:1}r${round}"
        if [ "$cold" = 1 ]; then
            for i in 1 2 3; do
                bp=$(next_base_port)
                local keep=(); [ "$i" = 3 ] && keep=(--keep)
                kvb "$who" "$round" "cold_ingest_$i" "$url" "$pid" ingest "${ingest_args[@]}" --base-port "$bp" \
                    --run-id "${run}c$i" --seed "$i" "${keep[@]}"
            done
            kvb "$who" "$round" cold_query_r100 "$url" "$pid" query --reuse "${ingest_args[@]}" --base-port "$bp" \
                --run-id "${run}c3" --seed 3 --concurrency 8 --warmup 0 --duration "$cold_s" --prompt-tokens 2048 \
                --hit-ratio 1.0
        fi
        for i in 1 2 3; do
            bp=$(next_base_port)
            local keep=(); [ "$i" = 3 ] && keep=(--keep)
            kvb "$who" "$round" "warm_ingest_$i" "$url" "$pid" ingest "${ingest_args[@]}" --base-port "$bp" \
                --run-id "${run}w$i" --seed "$((10 + i))" "${keep[@]}"
        done
        local r
        for r in 1.0 0.5 0.0; do
            local keep=(--keep); [ "$r" = 0.0 ] && keep=()
            kvb "$who" "$round" "warm_query_r${r/./}" "$url" "$pid" query --reuse "${keep[@]}" "${ingest_args[@]}" \
                --base-port "$bp" --run-id "${run}w3" --seed 13 --concurrency 8 --warmup 1 --duration "$qdur" \
                --prompt-tokens 2048 --hit-ratio "$r"
        done
        bp=$(next_base_port)
        kvb "$who" "$round" warm_ingest_large "$url" "$pid" ingest "${large_args[@]}" --base-port "$bp" \
            --run-id "${run}L" --seed 100
    }

    # start_daemon WHO ROUND: starts a fresh process; sets started_pid, started_url; records the time to first answer.
    start_daemon() {
        local who=$1 round=$2 log="$out/$1-r$2-daemon.log"
        if [ "$who" = ours ]; then
            CONDUCTOR_SKIP_BUILD=1 CONDUCTOR_JAVA_OPTS="$ours_opts" \
                "${ns[@]}" "$HOME_DIR/bin/mooncake_conductor" --config "$out/ours.json" --host 127.0.0.1 >"$log" 2>&1 &
            started_url="http://127.0.0.1:$ours_port"
        else
            "${ns[@]}" bash -c "exec $other_cmd" >"$log" 2>&1 &
            started_url="http://127.0.0.1:$other_port"
        fi
        started_pid=$!
        local took
        if ! took=$(wait_http "$started_url" 60); then
            echo "bench compare: $who did not answer HTTP on $started_url within 60 s (see $log)" >&2
            kill "$started_pid" 2>/dev/null; wait "$started_pid" 2>/dev/null
            return 1
        fi
        # Ready: the first 200 from /ready, as a load balancer's readiness probe sees it; a conductor without /ready
        # (404, as the C++ reference) is ready at its first answer. The cold set starts then.
        local ready=$took code t0 now
        t0=$(date +%s.%N)
        while :; do
            code=$("${ns[@]}" curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$started_url/ready" || true)
            [ "$code" = 200 ] || [ "$code" = 404 ] && break
            now=$(date +%s.%N)
            python3 -c "import sys; sys.exit(0 if $now - $t0 < 60 else 1)" || break
            sleep 0.02
        done
        now=$(date +%s.%N)
        ready=$(python3 -c "print(round($took + $now - $t0, 3))")
        printf '{"daemon":"%s","round":%s,"step":"start","result":{"first_answer_s":%s,"ready_s":%s}}\n' "$who" "$round" "$took" "$ready" >>"$out/results.jsonl"
        echo "  $who r$round: first HTTP answer ${took}s after start, ready ${ready}s"
    }
    stop_daemon() {
        kill -TERM "$1" 2>/dev/null || true
        local i; for i in $(seq 1 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$1" 2>/dev/null || true
        wait "$1" 2>/dev/null || true
    }
    trap 'for p in $(jobs -p); do kill -KILL "$p" 2>/dev/null; done' EXIT

    local round order who started_pid started_url
    for round in $(seq 1 "$rounds"); do
        if [ $((round % 2)) = 1 ]; then order="ours other"; else order="other ours"; fi
        echo "round $round ($order)"
        for who in $order; do
            if [ "$who" = other ] && [ -z "$other_cmd" ]; then
                [ -n "$other_url" ] && one_set other "$round" "$other_url" "$other_pid" 0
                continue
            fi
            start_daemon "$who" "$round" || return 1
            one_set "$who" "$round" "$started_url" "$started_pid" 1
            stop_daemon "$started_pid"
        done
    done
    trap - EXIT

    python3 "$HOME_DIR/bin/lib/bench_compare_report.py" "$out/results.jsonl" "${recorded[@]}" | tee "$out/summary.md"
    echo "raw output: $out"
}
