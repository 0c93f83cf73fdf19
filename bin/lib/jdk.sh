# Sourced by the bin/ scripts: finds a JDK >= 25 and exports JAVA_HOME and JAVA.
# Order: $JAVA_HOME if it is >= 25, else /usr/lib/jvm/*25* (and newer), else a clear error.

conductor_java_major() {
    # Prints the major version of the java binary $1, or nothing.
    "$1" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p' | head -n 1
}

conductor_quiet_maven() {
    # Maven 3.8's bundled Guava calls sun.misc.Unsafe, which JDK 24+ warns about on every build; the flag is
    # understood only by JDK >= 24, which conductor_find_jdk has just ensured.
    case " ${MAVEN_OPTS:-} " in
        *sun-misc-unsafe-memory-access*) ;;
        *) export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow" ;;
    esac
}

conductor_find_jdk() {
    local candidate major
    if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
        major=$(conductor_java_major "$JAVA_HOME/bin/java")
        if [ -n "$major" ] && [ "$major" -ge 25 ]; then
            export JAVA_HOME JAVA="$JAVA_HOME/bin/java"
            conductor_quiet_maven
            return 0
        fi
    fi
    for candidate in /usr/lib/jvm/*25* /usr/lib/jvm/*2[6-9]* /usr/lib/jvm/*3[0-9]*; do
        [ -x "$candidate/bin/java" ] && [ -x "$candidate/bin/javac" ] || continue
        major=$(conductor_java_major "$candidate/bin/java")
        if [ -n "$major" ] && [ "$major" -ge 25 ]; then
            export JAVA_HOME="$candidate" JAVA="$candidate/bin/java"
            conductor_quiet_maven
            return 0
        fi
    done
    echo "error: conductor needs a JDK 25 or newer; none found (JAVA_HOME=${JAVA_HOME:-unset}, nothing under /usr/lib/jvm/*25*)." >&2
    echo "       Install one (e.g. Temurin 25) and set JAVA_HOME to it." >&2
    return 1
}
