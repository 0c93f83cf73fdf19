package io.conductor.events;

/**
 * Maps the wire's enum-like strings (media, attention kinds, localities) to enums by comparing bytes in place,
 * ASCII case-insensitively, so no {@code String} is built. Stateless; thread-safe.
 */
final class MediumNames {

    private static final byte[][] MEDIUM_TEXT = {
        BatchDecoder.ascii("GPU"), BatchDecoder.ascii("CPU"), BatchDecoder.ascii("CPU_PINNED"),
        BatchDecoder.ascii("DISK"), BatchDecoder.ascii("FS"), BatchDecoder.ascii("OBJ"),
        BatchDecoder.ascii("EXTERNAL"), BatchDecoder.ascii("STORAGE"),
    };
    private static final Medium[] MEDIUM_VALUE = {
        Medium.GPU, Medium.CPU, Medium.CPU_PINNED, Medium.DISK, Medium.FS, Medium.OBJ, Medium.EXTERNAL, Medium.STORAGE,
    };

    private static final SpecKind[] SPEC_KINDS = SpecKind.values();
    private static final byte[][] SPEC_TEXT = new byte[SPEC_KINDS.length][];

    static {
        for (int i = 0; i < SPEC_KINDS.length; i++) {
            SPEC_TEXT[i] = BatchDecoder.ascii(SPEC_KINDS[i].name());
        }
    }

    private static final byte[] LOCAL = BatchDecoder.ascii("LOCAL");
    private static final byte[] REMOTE = BatchDecoder.ascii("REMOTE");

    private MediumNames() {
    }

    static Medium classify(byte[] buffer, int offset, int length) {
        for (int i = 0; i < MEDIUM_TEXT.length; i++) {
            if (equalsIgnoreCase(MEDIUM_TEXT[i], buffer, offset, length)) {
                return MEDIUM_VALUE[i];
            }
        }
        return Medium.OTHER;
    }

    static SpecKind specKind(byte[] buffer, int offset, int length) {
        for (int i = 0; i < SPEC_TEXT.length; i++) {
            if (SPEC_KINDS[i] != SpecKind.ABSENT && equalsIgnoreCase(SPEC_TEXT[i], buffer, offset, length)) {
                return SPEC_KINDS[i];
            }
        }
        return SpecKind.UNKNOWN;
    }

    static Locality locality(byte[] buffer, int offset, int length) {
        if (equalsIgnoreCase(LOCAL, buffer, offset, length)) {
            return Locality.LOCAL;
        }
        if (equalsIgnoreCase(REMOTE, buffer, offset, length)) {
            return Locality.REMOTE;
        }
        return Locality.OTHER;
    }

    /** {@code upper} is upper-case ASCII; the wire bytes may be either case. */
    static boolean equalsIgnoreCase(byte[] upper, byte[] buffer, int offset, int length) {
        if (upper.length != length) {
            return false;
        }
        for (int i = 0; i < length; i++) {
            int b = buffer[offset + i];
            if (b >= 'a' && b <= 'z') {
                b -= 'a' - 'A';
            }
            if (b != upper[i]) {
                return false;
            }
        }
        return true;
    }
}
