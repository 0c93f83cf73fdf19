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
 * The {@code mooncake_conductor hash} command: prints the block hashes an engine with a given profile publishes
 * for a token sequence, so operators can check a deployment's hashes against its KV events. Stateless and
 * thread-safe (each {@link #run} call has its own state).
 *
 * <pre>
 * mooncake_conductor hash --algorithm sha256|sha256_cbor|xxh3 --seed TEXT --block-size N
 *                         [--lora-name NAME] [--cache-salt SALT] TOKEN...
 * mooncake_conductor hash --strategy sglang --block-size PAGE [--cache-salt SALT] TOKEN...
 * mooncake_conductor hash --strategy lmcache --algorithm A --seed TEXT --block-size CHUNK TOKEN...
 * </pre>
 *
 * <p>Tokens come from the arguments or, when there are none, from standard input (whitespace separated). Output:
 * one line per complete block, {@code <block index>\t<digest hex>\t<published 64-bit value>}: unsigned decimal,
 * except for the {@code sglang} strategy, whose events carry it as a signed int64.
 * Exit codes: 0 success, 2 usage error (message on {@code err}), 1 input could not be read.
 */
public final class HashCommand {
    /** Exit code for success. */
    public static final int EXIT_OK = 0;
    /** Exit code when standard input cannot be read. */
    public static final int EXIT_IO_ERROR = 1;
    /** Exit code for a usage error. */
    public static final int EXIT_USAGE = 2;

    private static final String USAGE = """
            Usage: mooncake_conductor hash --algorithm sha256|sha256_cbor|xxh3 --seed TEXT --block-size N
                                           [--lora-name NAME] [--cache-salt SALT] [TOKEN...]
                   mooncake_conductor hash --strategy sglang --block-size PAGE [--cache-salt SALT] [TOKEN...]
                   mooncake_conductor hash --strategy lmcache --algorithm A --seed TEXT --block-size CHUNK [TOKEN...]

            Prints the block hashes an engine publishes for a token sequence, one line per complete block:
              <block index> TAB <digest hex> TAB <published 64-bit value, unsigned decimal>
            Tokens are decimal int32 values from the arguments, or from standard input (whitespace separated)
            when no token is given. An incomplete last block is not hashed, as in vLLM.

            Options:
              --strategy S      vllm_v1 (default), sglang (SHA-256 over u32 LE tokens; the value printed is the
                                first 8 digest bytes as a signed int64, as SGLang's events carry it; the salt
                                seeds the chain) or lmcache (vLLM's chain over CHUNK-token chunks, no LoRA or salt)
              --algorithm A     sha256 (vLLM default, pickle), sha256_cbor, or xxh3 (Mooncake RFC #1527)
              --seed TEXT       the engine's PYTHONHASHSEED text, hashed verbatim ("0" and "00" differ).
                                PYTHONHASHSEED unset: vLLM from PR #51875 (2026-08) on uses vllm-none-hash;
                                older vLLM uses a random root per process that nobody can reproduce.
                                For xxh3: the decimal seed S.
              --block-size N    hash block size in tokens (vLLM: block_size x decode context parallel size)
              --lora-name NAME  LoRA adapter name (extra key on every block)
              --cache-salt S    cache salt (extra key on block 0 only)
              -h, --help        this text
            """;

    private HashCommand() {
    }

    /**
     * Runs the command.
     *
     * @param args  the arguments after {@code hash}
     * @param stdin read for tokens when no token argument is given
     * @param out   receives the block lines
     * @param err   receives usage errors
     * @return the exit code: {@link #EXIT_OK}, {@link #EXIT_USAGE} or {@link #EXIT_IO_ERROR}
     */
    public static int run(String[] args, InputStream stdin, PrintStream out, PrintStream err) {
        final Options options;
        try {
            options = Options.parse(args);
        } catch (UsageException e) {
            err.println("mooncake_conductor hash: " + e.getMessage());
            err.println("Try 'mooncake_conductor hash --help'.");
            return EXIT_USAGE;
        }
        if (options.help) {
            out.print(USAGE);
            return EXIT_OK;
        }
        final HashProfile profile;
        final HashExtras extras;
        int[] tokens = options.tokens;
        int tokenCount = options.tokenCount;
        try {
            profile = switch (options.strategy) {
                case SGLANG -> HashProfile.sglang(options.seed);
                case LMCACHE -> HashProfile.forAnySeedText(options.algorithm, options.seed)
                        .withStrategy(HashStrategy.LMCACHE);
                case VLLM_V1 -> HashProfile.forAnySeedText(options.algorithm, options.seed);
            };
            extras = HashExtras.of(options.loraName, options.cacheSalt);
            if (!options.tokensGiven) {
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
        final BlockHashChain chain = new BlockHashChain().reset(profile, options.blockSize, tokens, 0, tokenCount,
                extras);
        final HexFormat hex = HexFormat.of();
        final byte[] digest = new byte[chain.digestLength()];
        final StringBuilder line = new StringBuilder(128);
        for (int i = 0; i < chain.blockCount(); i++) {
            chain.copyDigest(i, digest, 0);
            line.setLength(0);
            line.append(i).append('\t');
            hex.formatHex(line, digest);
            line.append('\t').append(options.strategy == HashStrategy.SGLANG ? Long.toString(chain.blockHash(i))
                    : Long.toUnsignedString(chain.blockHash(i)));
            out.println(line);
        }
        if (chain.blockCount() == 0) {
            err.println("mooncake_conductor hash: no complete block (" + tokenCount + " tokens, block size "
                    + options.blockSize + ")");
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

    private static final class Options {
        boolean help;
        HashStrategy strategy = HashStrategy.VLLM_V1;
        HashAlgorithm algorithm = HashAlgorithm.SHA256;
        String seed = "";
        int blockSize;
        String loraName = "";
        @Nullable String cacheSalt;
        int[] tokens = new int[16];
        int tokenCount;
        boolean tokensGiven;

        static Options parse(String[] args) throws UsageException {
            final Options o = new Options();
            boolean algorithmSet = false;
            boolean seedSet = false;
            boolean blockSizeSet = false;
            boolean onlyTokens = false;
            for (int i = 0; i < args.length; i++) {
                final String arg = args[i];
                if (onlyTokens || isInteger(arg)) {
                    o.addToken(parseToken(arg));
                    continue;
                }
                if (arg.equals("--")) {
                    onlyTokens = true;
                    continue;
                }
                if (arg.equals("-h") || arg.equals("--help")) {
                    o.help = true;
                    return o;
                }
                final int eq = arg.indexOf('=');
                final String name = arg.startsWith("--") && eq > 0 ? arg.substring(0, eq) : arg;
                final String value;
                if (!name.startsWith("--")) {
                    throw new UsageException("not a token (decimal int32) or option: " + arg);
                } else if (name.length() != arg.length()) {
                    value = arg.substring(eq + 1);
                } else if (isValued(name)) {
                    if (i + 1 >= args.length) {
                        throw new UsageException(name + " needs a value");
                    }
                    value = args[++i];
                } else {
                    throw new UsageException("unknown option: " + name);
                }
                switch (name) {
                    case "--strategy" -> {
                        final HashStrategy st = HashStrategy.fromWireName(value);
                        if (st == null) {
                            throw new UsageException("--strategy must be vllm_v1, sglang or lmcache, was: " + value);
                        }
                        o.strategy = st;
                    }
                    case "--algorithm" -> {
                        final HashAlgorithm a = HashAlgorithm.fromWireName(value);
                        if (a == null) {
                            throw new UsageException("--algorithm must be sha256, sha256_cbor or xxh3, was: " + value);
                        }
                        o.algorithm = a;
                        algorithmSet = true;
                    }
                    case "--seed" -> {
                        o.seed = value;
                        seedSet = true;
                    }
                    case "--block-size" -> {
                        o.blockSize = parseBlockSize(value);
                        blockSizeSet = true;
                    }
                    case "--lora-name" -> o.loraName = value;
                    case "--cache-salt" -> o.cacheSalt = value;
                    default -> throw new UsageException("unknown option: " + name);
                }
            }
            if (o.strategy == HashStrategy.SGLANG) {
                if (o.algorithm != HashAlgorithm.SHA256) {
                    throw new UsageException("--strategy sglang hashes with sha256 only");
                }
                algorithmSet = true;
                seedSet = true;
                if (!o.loraName.isEmpty()) {
                    throw new UsageException("--strategy sglang has no LoRA key");
                }
            }
            if (!algorithmSet) {
                throw new UsageException("--algorithm is required (sha256, sha256_cbor or xxh3; vLLM's default is"
                        + " sha256)");
            }
            if (!seedSet) {
                throw new UsageException("--seed is required: the engine's PYTHONHASHSEED text. If it is unset,"
                        + " vLLM from PR #51875 on uses vllm-none-hash; older vLLM uses a random root per process"
                        + " that cannot be reproduced (set PYTHONHASHSEED on every engine)");
            }
            if (!blockSizeSet) {
                throw new UsageException("--block-size is required");
            }
            o.tokensGiven = o.tokenCount > 0;
            return o;
        }

        private static boolean isValued(String name) {
            return switch (name) {
                case "--strategy", "--algorithm", "--seed", "--block-size", "--lora-name", "--cache-salt" -> true;
                default -> false;
            };
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

        private static int parseBlockSize(String value) throws UsageException {
            try {
                final int n = Integer.parseInt(value);
                if (n >= 1) {
                    return n;
                }
            } catch (NumberFormatException e) {
                // reported below
            }
            throw new UsageException("--block-size must be a positive integer, was: " + value);
        }

        void addToken(int token) {
            if (tokenCount == tokens.length) {
                tokens = Arrays.copyOf(tokens, 2 * tokens.length);
            }
            tokens[tokenCount++] = token;
        }
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
            if (!Options.isInteger(text)) {
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
