package io.conductor.events;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads the annotated hex captures of events.md (copied verbatim into test resources): on each line, the leading
 * two-digit hex tokens are bytes and the rest is annotation; {@code frame N:} starts a frame, {@code (empty)} is an
 * empty frame, and {@code DEALER -> ROUTER} / {@code ROUTER -> DEALER} start a message.
 */
final class Captures {

    private Captures() {
    }

    /** Every message of a capture; a file without direction markers is one message. */
    static List<List<byte[]>> messages(String resource) {
        final List<List<byte[]>> messages = new ArrayList<>();
        List<java.io.ByteArrayOutputStream> frames = null;
        for (String line : read(resource).split("\n")) {
            if (line.startsWith("#") || line.isBlank()) {
                continue;
            }
            if (line.startsWith("DEALER -> ROUTER") || line.startsWith("ROUTER -> DEALER")) {
                if (frames != null) {
                    messages.add(toBytes(frames));
                }
                frames = new ArrayList<>();
                line = line.substring("DEALER -> ROUTER".length());
            }
            if (frames == null) {
                frames = new ArrayList<>();
            }
            String rest = line.strip();
            if (rest.matches("frame \\d+:.*")) {
                frames.add(new java.io.ByteArrayOutputStream());
                rest = rest.substring(rest.indexOf(':') + 1).strip();
            } else if (frames.isEmpty()) {
                frames.add(new java.io.ByteArrayOutputStream());
            }
            final java.io.ByteArrayOutputStream frame = frames.get(frames.size() - 1);
            for (final String token : rest.split("\\s+")) {
                if (!token.matches("[0-9a-f]{2}")) {
                    break;
                }
                frame.write(Integer.parseInt(token, 16));
            }
        }
        if (frames != null) {
            messages.add(toBytes(frames));
        }
        return messages;
    }

    /** The frames of a one-message capture. */
    static List<byte[]> frames(String resource) {
        return messages(resource).get(0);
    }

    /** The last frame of a one-message capture: the batch payload. */
    static byte[] payload(String resource) {
        final List<byte[]> frames = frames(resource);
        return frames.get(frames.size() - 1);
    }

    static byte[] hex(String text) {
        final String[] tokens = text.strip().split("\\s+");
        final byte[] out = new byte[tokens.length];
        for (int i = 0; i < tokens.length; i++) {
            out[i] = (byte) Integer.parseInt(tokens[i], 16);
        }
        return out;
    }

    private static List<byte[]> toBytes(List<java.io.ByteArrayOutputStream> frames) {
        final List<byte[]> out = new ArrayList<>();
        for (final java.io.ByteArrayOutputStream f : frames) {
            out.add(f.toByteArray());
        }
        return out;
    }

    private static String read(String resource) {
        try (InputStream in = Captures.class.getResourceAsStream("/captures/" + resource)) {
            if (in == null) {
                throw new IllegalArgumentException("no capture " + resource);
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
