# Sourced by bin/mooncake_conductor (source checkout) and by the distribution's bin/mooncake_conductor: runs one
# command of the conductor from a jar, with the daemon's JVM defaults. Needs JAVA (conductor_find_jdk).
#   conductor_exec JAR ARGS...

conductor_exec() {
    local jar=$1
    shift
    # JVM defaults for the daemon (docs/operations.md, "Memory and JVM defaults"), each one only when
    # CONDUCTOR_JAVA_OPTS does not set it: SerialGC (two cores, a small live set: short young pauses, no concurrent
    # GC threads or remembered sets), a 96 MB heap (the 1.28M-block benchmark index is 34 MB; the index budget
    # defaults to half the heap), compact object headers, small thread stacks and code cache, and exit at once on an
    # OutOfMemoryError (a half-updated index must not keep serving). Size -Xmx for your block count. The demo,
    # engine and proxy commands size their own JVMs.
    local jvm_defaults=()
    case "${1:-}" in
        demo|engine|proxy|hash) ;;
        *)
            local opts=" ${CONDUCTOR_JAVA_OPTS:-} "
            has() { case "$opts" in *"$1"*) return 0 ;; *) return 1 ;; esac; }
            [[ "$opts" =~ -XX:\+Use[A-Za-z0-9]+GC[[:space:]] ]] || jvm_defaults+=(-XX:+UseSerialGC)
            if ! has ' -Xmx' && ! has 'MaxHeapSize' && ! has 'MaxRAMPercentage'; then
                jvm_defaults+=(-Xmx96m)
                # A young generation of at most 24 MB leaves 72 MB for the old one: the index (budget: half the heap) plus the
                # daemon's own state, and the transient second slot array while the index's table doubles. With
                # SerialGC's default third (32 MB young) the 1.28M-block benchmark ingest after the query runs
                # ran out of heap.
                has ' -Xmn' || has 'NewSize' || has 'NewRatio' || jvm_defaults+=(-XX:MaxNewSize=24m)
            fi
            has ' -Xms' || has 'InitialHeapSize' || jvm_defaults+=(-Xms16m)
            has 'ObjectHeaders' || jvm_defaults+=(-XX:+UseCompactObjectHeaders)
            has ' -Xss' || has 'ThreadStackSize' || jvm_defaults+=(-Xss512k)
            has 'ReservedCodeCacheSize' || jvm_defaults+=(-XX:ReservedCodeCacheSize=32m)
            has 'MaxMetaspaceSize' || jvm_defaults+=(-XX:MaxMetaspaceSize=128m)
            has 'OnOutOfMemoryError' || has 'CrashOnOutOfMemoryError' || jvm_defaults+=(-XX:+ExitOnOutOfMemoryError)
            # Hands freed native memory (the JIT compilers' arenas after warm-up) back to the OS once a second.
            has 'TrimNativeHeapInterval' || jvm_defaults+=(-XX:TrimNativeHeapInterval=1000)
            # glibc's per-thread malloc arenas hold tens of MB of freed JIT-compiler memory on a 2-core host.
            export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
            # The ahead-of-time cache recorded at build time (conductor/src/aot/train.sh) beside the jar: classes
            # loaded and linked, method profiles, so a start reaches full speed sooner. The JVM uses it only when
            # its build and the GC/heap/header flags match the training run, and otherwise ignores it; aot=off
            # keeps that JVM notice out of the daemon's logs.
            local cache="${jar%.jar}.aot"
            if [ -f "$cache" ] && ! has 'AOTCache' && ! has 'AOTMode'; then
                jvm_defaults+=(-XX:AOTCache="$cache" -Xlog:aot=off)
            fi
            ;;
    esac
    # --sun-misc-unsafe-memory-access=allow: msgpack-core uses sun.misc.Unsafe, which JDK 24+ warns about at first
    # use. CONDUCTOR_JAVA_OPTS is split on spaces on purpose (a list of JVM options).
    # shellcheck disable=SC2086
    exec "$JAVA" "${jvm_defaults[@]}" ${CONDUCTOR_JAVA_OPTS:-} --enable-native-access=ALL-UNNAMED \
        --sun-misc-unsafe-memory-access=allow -jar "$jar" "$@"
}
