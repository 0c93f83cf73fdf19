package io.conductor.index.hash;

import org.jspecify.annotations.Nullable;

import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HexFormat;

/**
 * The work of the {@code mooncake_conductor hash} command: prints the block hashes an engine with a given profile
 * publishes for a token sequence, so operators can check a deployment's hashes against its KV events. The command
 * line is parsed by the daemon's front end (picocli), which hands over a {@link Request}. Stateless and
 * thread-safe (each {@link #run} call has its own state).
 *
 * <p>Tokens come from the request or, when it has none, from standard input (whitespace separated). Output: one
 * line per complete block, {@code <block index>\t<digest hex>\t<published 64-bit value>}: unsigned decimal, except
 * for the {@code sglang} strategy, whose events carry it as a signed int64.
 * Exit codes: 0 success, 2 usage error (message on {@code err}), 1 input could not be read.
 */
public final class HashCommand {
    /** Exit code for success. */
    public static final int EXIT_OK = 0;
    /** Exit code when standard input cannot be read. */
    public static final int EXIT_IO_ERROR = 1;
    /** Exit code for a usage error. */
    public static final int EXIT_USAGE = 2;

    private HashCommand() {
    }

    /**
     * What to hash: the command line, parsed.
     *
     * @param strategy  vllm_v1, sglang (SHA-256 over u32 LE tokens, signed first 8 bytes) or lmcache (vLLM's chain
     *                  over chunks, no extra keys)
     * @param algorithm the engine's hash algorithm
     * @param seed the engine's {@code PYTHONHASHSEED} text (for xxh3: the decimal seed)
     * @param blockSize tokens per block, at least 1
     * @param loraName LoRA adapter name, or {@code ""}
     * @param cacheSalt cache salt, or {@code null}
     * @param tokens the tokens; empty = read them from standard input
     */
    public record Request(HashStrategy strategy, HashAlgorithm algorithm, String seed, int blockSize,
            String loraName, @Nullable String cacheSalt, int[] tokens) {
        /** Checks the block size and the strategy's constraints, and copies the tokens. */
        public Request {
            if (blockSize < 1) {
                throw new IllegalArgumentException("--block-size must be a positive integer, was: " + blockSize);
            }
            if (strategy == HashStrategy.SGLANG && algorithm != HashAlgorithm.SHA256) {
                throw new IllegalArgumentException("--strategy sglang hashes with sha256 only");
            }
            if (strategy == HashStrategy.SGLANG && !loraName.isEmpty()) {
                throw new IllegalArgumentException("--strategy sglang has no LoRA key");
            }
            tokens = tokens.clone();
        }

        /**
         * A vLLM v1 request.
         *
         * @param algorithm serializer and digest
         * @param seed      the engine's {@code PYTHONHASHSEED} text
         * @param blockSize tokens per block, at least 1
         * @param loraName  LoRA adapter name, or {@code ""}
         * @param cacheSalt cache salt, or {@code null}
         * @param tokens    the tokens; empty = read them from standard input
         */
        public Request(HashAlgorithm algorithm, String seed, int blockSize, String loraName,
                @Nullable String cacheSalt, int[] tokens) {
            this(HashStrategy.VLLM_V1, algorithm, seed, blockSize, loraName, cacheSalt, tokens);
        }
    }

    /**
     * Runs the command.
     *
     * @param request what to hash
     * @param stdin read for tokens when the request has none
     * @param out   receives the block lines
     * @param err   receives usage errors
     * @return the exit code: {@link #EXIT_OK}, {@link #EXIT_USAGE} or {@link #EXIT_IO_ERROR}
     */
    public static int run(Request request, InputStream stdin, PrintStream out, PrintStream err) {
        final HashProfile profile;
        final HashExtras extras;
        int[] tokens = request.tokens();
        int tokenCount = tokens.length;
        try {
            profile = switch (request.strategy()) {
                case SGLANG -> HashProfile.sglang(request.seed());
                case LMCACHE -> HashProfile.forAnySeedText(request.algorithm(), request.seed())
                        .withStrategy(HashStrategy.LMCACHE);
                case VLLM_V1 -> HashProfile.forAnySeedText(request.algorithm(), request.seed());
            };
            extras = HashExtras.of(request.loraName(), request.cacheSalt());
            if (tokenCount == 0) {
                final TokenReader reader = new TokenReader(new InputStreamReader(stdin, StandardCharsets.UTF_8));
                tokenCount = reader.readAll();
                tokens = reader.tokens;
            }
        } catch (HashProfileException e) {
            err.println("mooncake_conductor hash: --seed: " + e.getMessage());
            return EXIT_USAGE;
        } catch (UsageException | IllegalArgumentException e) {
            err.println("mooncake_conductor hash: " + e.getMessage());
            return EXIT_USAGE;
        } catch (IOException e) {
            err.println("mooncake_conductor hash: cannot read tokens from standard input: " + e.getMessage());
            return EXIT_IO_ERROR;
        }
        final BlockHashChain chain = new BlockHashChain().reset(profile, request.blockSize(), tokens, 0, tokenCount,
                extras);
        final HexFormat hex = HexFormat.of();
        final byte[] digest = new byte[chain.digestLength()];
        final StringBuilder line = new StringBuilder(128);
        for (int i = 0; i < chain.blockCount(); i++) {
            chain.copyDigest(i, digest, 0);
            line.setLength(0);
            line.append(i).append('\t');
            hex.formatHex(line, digest);
            line.append('\t').append(request.strategy() == HashStrategy.SGLANG ? Long.toString(chain.blockHash(i))
                    : Long.toUnsignedString(chain.blockHash(i)));
            out.println(line);
        }
        if (chain.blockCount() == 0) {
            err.println("mooncake_conductor hash: no complete block (" + tokenCount + " tokens, block size "
                    + request.blockSize() + ")");
        }
        out.flush();
        return EXIT_OK;
    }

    /** A command-line mistake; the message says what to fix. */
    private static final class UsageException extends Exception {
        private static final long serialVersionUID = 1L;

        UsageException(String message) {
            super(message);
        }
    }

    private static boolean isInteger(String arg) {
        final int start = arg.startsWith("-") ? 1 : 0;
        if (arg.length() == start) {
            return false;
        }
        for (int i = start; i < arg.length(); i++) {
            if (arg.charAt(i) < '0' || arg.charAt(i) > '9') {
                return false;
            }
        }
        return true;
    }

    static int parseToken(String text) throws UsageException {
        try {
            return Integer.parseInt(text);
        } catch (NumberFormatException e) {
            throw new UsageException("token is not a decimal int32: " + text);
        }
    }

    /** Reads whitespace-separated decimal tokens from a character stream. */
    private static final class TokenReader {
        private final Reader reader;
        int[] tokens = new int[1024];
        private int count;

        TokenReader(Reader reader) {
            this.reader = reader;
        }

        int readAll() throws IOException, UsageException {
            final char[] buffer = new char[8192];
            final StringBuilder word = new StringBuilder();
            int n;
            while ((n = reader.read(buffer)) >= 0) {
                for (int i = 0; i < n; i++) {
                    final char c = buffer[i];
                    if (Character.isWhitespace(c)) {
                        flush(word);
                    } else {
                        word.append(c);
                    }
                }
            }
            flush(word);
            return count;
        }

        private void flush(StringBuilder word) throws UsageException {
            if (word.isEmpty()) {
                return;
            }
            final String text = word.toString();
            if (!isInteger(text)) {
                throw new UsageException("token is not a decimal int32: " + text);
            }
            if (count == tokens.length) {
                tokens = Arrays.copyOf(tokens, 2 * tokens.length);
            }
            tokens[count++] = parseToken(text);
            word.setLength(0);
        }
    }
}
