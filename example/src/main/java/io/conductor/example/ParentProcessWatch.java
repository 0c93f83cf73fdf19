package io.conductor.example;

/**
 * Lets a simulator started by the demo (or a test) exit once the process that started it is gone, so that a
 * killed demo or test JVM leaves no simulator behind. The parent passes its pid in the system property
 * {@value #PARENT_PID_PROPERTY}. Thread-safe: the watch runs on the JDK's process-exit notification thread.
 */
public final class ParentProcessWatch {
    /** System property naming the parent's pid. */
    public static final String PARENT_PID_PROPERTY = "conductor.parent.pid";

    private ParentProcessWatch() {
    }

    /**
     * Exits this JVM with status 0 when the parent named by {@value #PARENT_PID_PROPERTY} exits (at once if it is
     * already gone). Does nothing when the property is absent; warns on standard error when it is not a pid.
     */
    public static void exitWithParent() {
        String pid = System.getProperty(PARENT_PID_PROPERTY);
        if (pid == null) {
            return;
        }
        try {
            ProcessHandle.of(Long.parseLong(pid)).ifPresentOrElse(
                parent -> parent.onExit().thenRun(() -> System.exit(0)), () -> System.exit(0));
        } catch (NumberFormatException e) {
            System.err.println("ignoring " + PARENT_PID_PROPERTY + "=" + pid + ": not a process id");
        }
    }
}
