#!/usr/bin/env bash
# Records the distribution's ahead-of-time cache (JEP 483 classes, JEP 515 method profiles): runs the daemon jar
# through the same launcher code as a user's start (bin/lib/run.sh, so the JVM flags match the ones the cache will
# be used with), on loopback with no subscriptions, lets the start-up warm-up drive the query and ingest paths, and
# exits; the JVM then writes the cache. Called by conductor/pom.xml at package time:
#   train.sh JAVA JAR CACHE TIMESTAMP
# Skipped with -Dconductor.aot.skip=true. A failed training fails the build: the distribution would ship without it.
set -euo pipefail
JAVA=$1 JAR=$2 CACHE=$3 TIMESTAMP=$4
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
# shellcheck source=../../../bin/lib/run.sh
. "$ROOT/bin/lib/run.sh"
rm -f "$CACHE" "$CACHE.config"
# The JVM maps the cache only for a jar with the modification time it was trained with, and the distribution's tar
# stamps every entry with the build's reproducible timestamp: give the jar that time now.
touch -d "$TIMESTAMP" "$JAR"
config="$(dirname "$CACHE")/aot-training-config.json"
echo '{"http_server_port": 0, "kvevent_instance": {}}' >"$config"
log="$(dirname "$CACHE")/aot-training.log"
echo "aot: training the daemon's ahead-of-time cache (log: $log)"
export JAVA CONDUCTOR_WARMUP_SECONDS="${CONDUCTOR_AOT_TRAINING_SECONDS:-4}" CONDUCTOR_EXIT_AFTER_WARMUP=1
export CONDUCTOR_JAVA_OPTS="-XX:AOTCacheOutput=$CACHE -Xlog:aot=error"
unset CONDUCTOR_CONFIG_PATH CONDUCTOR_ADMIN_API_KEY
if ! (conductor_exec "$JAR" --config "$config" --host 127.0.0.1 --port 0) >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    echo "aot: the training run failed (see $log); build with -Dconductor.aot.skip=true to package without the cache" >&2
    exit 1
fi
if [ ! -s "$CACHE" ] || ! grep -q 'event=warmup_done' "$log"; then
    tail -n 20 "$log" >&2
    echo "aot: the training run did not warm up or wrote no cache (see $log)" >&2
    exit 1
fi
echo "aot: $(basename "$CACHE") $(($(stat -c %s "$CACHE") / 1048576)) MB"
