package io.conductor.index.prefix;

import java.util.Locale;
import org.jspecify.annotations.Nullable;

/**
 * A storage tier of a KV block. Who owns a tier entry depends on the publisher: GPU and the vLLM offloading
 * connector's tiers ({@code CPU}, {@code FS}/{@code OBJ} = disk) belong to the (instance, DP rank) that published
 * them; the Mooncake store's {@code cpu}/{@code disk} belong to a shared pool (a backend). Immutable.
 */
public enum Tier {
    /** Device memory of one (instance, DP rank). */
    GPU(BlockTable.GPU),
    /** Host memory: an instance's offload buffer or a shared pool's memory replicas. */
    CPU(BlockTable.CPU),
    /** Disk or object storage: an instance's FS/OBJ offload tier or a shared pool's disk replicas. */
    DISK(BlockTable.DISK);

    private final int bit;

    Tier(int bit) {
        this.bit = bit;
    }

    int bit() {
        return bit;
    }

    /**
     * Maps a vLLM {@code medium} ({@code GPU}, {@code CPU}, {@code FS}, {@code OBJ}, case-insensitive) to a tier.
     *
     * @param medium the event's medium
     * @return the tier, or {@code null} for a medium the index does not track
     */
    public static @Nullable Tier ofVllmMedium(String medium) {
        return switch (medium.toUpperCase(Locale.ROOT)) {
            case "GPU" -> GPU;
            case "CPU", "CPU_PINNED" -> CPU;
            case "FS", "OBJ", "DISK" -> DISK;
            default -> null;
        };
    }

    /**
     * Maps a Mooncake store {@code medium} ({@code cpu}, {@code disk}, case-insensitive) to a tier.
     *
     * @param medium the event's medium
     * @return the tier, or {@code null} for anything else
     */
    public static @Nullable Tier ofMooncakeMedium(String medium) {
        return switch (medium.toLowerCase(Locale.ROOT)) {
            case "cpu" -> CPU;
            case "disk" -> DISK;
            default -> null;
        };
    }
}
