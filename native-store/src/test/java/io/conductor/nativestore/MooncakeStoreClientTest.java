package io.conductor.nativestore;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The FFM binding against the C test double: setup arguments, failure reports, every bound call, close. */
class MooncakeStoreClientTest {
    private Path library;

    @BeforeEach
    void loadDouble() {
        library = StoreDouble.load();
    }

    @Test
    void shouldPassEverySetupArgumentWhenOpening() throws Exception {
        NativeStoreConfig config = ProbeFixtures.config(library, Map.of("global_segment_size", "1kb",
                "local_buffer_size", 7, "device_name", "mlx5_0", "protocol", "rdma"));

        try (MooncakeStoreClient client = MooncakeStoreClient.open(config, "10.0.0.7", false)) {
            assertEquals("10.0.0.7|http://127.0.0.1:8080/metadata|1024|7|rdma|mlx5_0|127.0.0.1:50051",
                    StoreDouble.lastSetup());
            assertEquals(MooncakeStoreDescriptor.HEALTHY, client.healthCheck());
        }
    }

    @Test
    void shouldNameLibraryCallAndCodeWhenSetupFails() {
        StoreDouble.setRc("setup", -900);

        StoreSetupException e = assertThrows(StoreSetupException.class,
                () -> MooncakeStoreClient.open(ProbeFixtures.config(library, Map.of()), "h", false));

        assertTrue(e.getMessage().startsWith(library.toString() + ": mooncake_store_setup("), e.getMessage());
        assertTrue(e.getMessage().contains("returned -900 (RPC_FAIL"), e.getMessage());
        assertEquals(1, StoreDouble.counter("destroy"), "a failed setup must destroy the handle");
        assertEquals(0, StoreDouble.counter("live_handles"));
    }

    @Test
    void shouldNameLibraryWhenCreateReturnsNull() {
        StoreDouble.setRc("create", 1);

        StoreSetupException e = assertThrows(StoreSetupException.class,
                () -> MooncakeStoreClient.open(ProbeFixtures.config(library, Map.of()), "h", false));

        assertEquals(library + ": mooncake_store_create() returned NULL", e.getMessage());
        assertEquals(0, StoreDouble.counter("setup"));
    }

    @Test
    void shouldNamePathWhenLibraryIsMissing() {
        Path missing = library.resolveSibling("no-such-dir/libmooncake_store.so");

        StoreSetupException e = assertThrows(StoreSetupException.class,
                () -> MooncakeStoreClient.open(ProbeFixtures.config(missing, Map.of()), "h", false));

        assertTrue(e.getMessage().startsWith(missing + ": cannot load the Mooncake Store library"), e.getMessage());
    }

    @Test
    void shouldNameSymbolWhenLibraryIsNotTheStore() {
        // A real shared library without the store ABI: the compiled double's sibling would do, libm is simpler.
        Path libm = Path.of("/lib/x86_64-linux-gnu/libm.so.6");
        org.junit.jupiter.api.Assumptions.assumeTrue(java.nio.file.Files.isRegularFile(libm), "no " + libm);

        StoreSetupException e = assertThrows(StoreSetupException.class,
                () -> MooncakeStoreClient.open(ProbeFixtures.config(libm, Map.of()), "h", false));

        assertTrue(e.getMessage().contains("symbol mooncake_store_create not found"), e.getMessage());
    }

    @Test
    void shouldBindIsExistGetSizeAndInitAll() throws Exception {
        StoreDouble.setKeys(List.of("present"));

        try (MooncakeStoreClient client = MooncakeStoreClient.open(ProbeFixtures.config(library,
                Map.of("global_segment_size", 4096)), "h", true)) {
            assertEquals("init_all|tcp||4096", StoreDouble.lastSetup());
            assertEquals(MooncakeStoreDescriptor.EXISTS, client.isExist("present"));
            assertEquals(MooncakeStoreDescriptor.ABSENT, client.isExist("absent"));
            assertEquals("present".length() * 1024L, client.getSize("present"));
            assertTrue(client.getSize("absent") < 0);
        }
    }

    @Test
    void shouldReportClosedAndDestroyOnceWhenClosed() throws Exception {
        MooncakeStoreClient client = MooncakeStoreClient.open(ProbeFixtures.config(library, Map.of()), "h", false);

        client.close();
        client.close();

        assertEquals(MooncakeStoreClient.CLOSED, client.healthCheck());
        assertEquals(MooncakeStoreClient.CLOSED, client.isExist("k"));
        assertEquals(1, StoreDouble.counter("destroy"));
        assertEquals(0, StoreDouble.counter("live_handles"));
    }
}
