package io.conductor.daemon.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.conductor.events.SubscriberConfig;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The daemon's event-subscriber settings from the environment. */
class ZmqEventStreamsConfigTest {

    @Test
    void shouldUseBoundedDefaultsWhenEnvironmentIsEmpty() {
        SubscriberConfig c = ZmqEventStreams.configFrom(Map.of());
        assertEquals(1, c.pollerThreads());
        assertEquals(SubscriberConfig.DEFAULT_RECEIVE_HIGH_WATER_MARK, c.receiveHighWaterMark());
        assertTrue(c.receiveHighWaterMark() > 0 && c.receiveHighWaterMark() < 10_000,
                "bounded and below vLLM's replay ring");
    }

    @Test
    void shouldOverridePollersAndHighWaterMarkWhenEnvironmentSetsThem() {
        SubscriberConfig c = ZmqEventStreams.configFrom(Map.of(ZmqEventStreams.ENV_POLLER_THREADS, "2",
                ZmqEventStreams.ENV_RECEIVE_HWM, " 5000 "));
        assertEquals(2, c.pollerThreads());
        assertEquals(5000, c.receiveHighWaterMark());
    }

    @Test
    void shouldCapFramesByDefaultAndTakeTheCapFromTheEnvironment() {
        assertEquals(SubscriberConfig.DEFAULT_MAX_MESSAGE_BYTES, ZmqEventStreams.configFrom(Map.of()).maxMessageBytes());
        assertEquals(1 << 20, ZmqEventStreams.configFrom(Map.of(ZmqEventStreams.ENV_MAX_MESSAGE_BYTES, "1048576"))
                .maxMessageBytes());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ZmqEventStreams.configFrom(Map.of(ZmqEventStreams.ENV_MAX_MESSAGE_BYTES, "12")));
        assertTrue(e.getMessage().contains("maxMessageBytes"), e.getMessage());
    }

    @Test
    void shouldRejectWhenEnvironmentValueIsInvalid() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ZmqEventStreams.configFrom(Map.of(ZmqEventStreams.ENV_RECEIVE_HWM, "lots")));
        assertTrue(e.getMessage().contains(ZmqEventStreams.ENV_RECEIVE_HWM), e.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> ZmqEventStreams.configFrom(Map.of(ZmqEventStreams.ENV_POLLER_THREADS, "0")));
    }
}
