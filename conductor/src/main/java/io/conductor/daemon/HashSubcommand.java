package io.conductor.daemon;

import io.conductor.index.hash.HashAlgorithm;
import io.conductor.index.hash.HashCommand;
import io.conductor.index.hash.HashStrategy;
import java.io.InputStream;
import java.io.PrintStream;
import java.util.concurrent.Callable;
import org.jspecify.annotations.Nullable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code mooncake_conductor hash}: the command line of {@link HashCommand} (the block-hash calculator). Options are
 * checked here with messages that say what an engine's setting is; the hashing is {@link HashCommand}'s. Used
 * once, by the main thread.
 */
@Command(name = "hash", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = {"Print the block hashes an engine publishes for a token sequence, one line per complete "
                + "block: <block index> TAB <digest hex> TAB <published 64-bit value, unsigned decimal>.",
            "Tokens are decimal int32 values from the arguments, or from standard input (whitespace separated) "
                + "when no token is given. An incomplete last block is not hashed, as in vLLM."})
final class HashSubcommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--strategy", paramLabel = "S", defaultValue = "vllm_v1",
            description = {"vllm_v1 (default); sglang: SHA-256 over u32 LE tokens, the value printed is the first 8 "
                + "digest bytes as a signed int64, as SGLang's events carry it, and --cache-salt seeds the chain "
                + "(no --algorithm or --seed needed); lmcache: vLLM's chain over CHUNK-token chunks (--block-size), "
                + "no LoRA or salt"})
    String strategy = "vllm_v1";

    @Option(names = "--algorithm", paramLabel = "A",
            description = "sha256 (vLLM default, pickle), sha256_cbor, or xxh3 (Mooncake RFC #1527); required")
    @Nullable String algorithm;

    @Option(names = "--seed", paramLabel = "TEXT",
            description = {"the engine's PYTHONHASHSEED text, hashed verbatim (\"0\" and \"00\" differ); required.",
                "PYTHONHASHSEED unset: vLLM from PR #51875 (2026-08) on uses vllm-none-hash; older vLLM uses a "
                    + "random root per process that nobody can reproduce. For xxh3: the decimal seed S."})
    @Nullable String seed;

    @Option(names = "--block-size", paramLabel = "N",
            description = "hash block size in tokens (vLLM: block_size x decode context parallel size); required")
    @Nullable Integer blockSize;

    @Option(names = "--lora-name", paramLabel = "NAME", defaultValue = "",
            description = "LoRA adapter name (extra key on every block)")
    String loraName = "";

    @Option(names = "--cache-salt", paramLabel = "S", description = "cache salt (extra key on block 0 only)")
    @Nullable String cacheSalt;

    @Parameters(paramLabel = "TOKEN", arity = "0..*", description = "tokens (decimal int32)")
    String @Nullable [] tokens;

    private final InputStream in;
    private final PrintStream out;
    private final PrintStream err;

    HashSubcommand(InputStream in, PrintStream out, PrintStream err) {
        this.in = in;
        this.out = out;
        this.err = err;
    }

    @Override
    public Integer call() {
        HashStrategy parsedStrategy = HashStrategy.fromWireName(strategy);
        if (parsedStrategy == null) {
            throw usage("--strategy must be vllm_v1, sglang or lmcache, was: " + strategy);
        }
        if (parsedStrategy == HashStrategy.SGLANG) {
            algorithm = algorithm == null ? "sha256" : algorithm;
            seed = seed == null ? "" : seed;
        }
        if (algorithm == null) {
            throw usage("--algorithm is required (sha256, sha256_cbor or xxh3; vLLM's default is sha256)");
        }
        HashAlgorithm parsed = HashAlgorithm.fromWireName(algorithm);
        if (parsed == null) {
            throw usage("--algorithm must be sha256, sha256_cbor or xxh3, was: " + algorithm);
        }
        if (seed == null) {
            throw usage("--seed is required: the engine's PYTHONHASHSEED text. If it is unset, vLLM from PR #51875 "
                    + "on uses vllm-none-hash; older vLLM uses a random root per process that cannot be reproduced "
                    + "(set PYTHONHASHSEED on every engine)");
        }
        if (blockSize == null) {
            throw usage("--block-size is required");
        }
        if (blockSize < 1) {
            throw usage("--block-size must be a positive integer, was: " + blockSize);
        }
        String[] words = tokens == null ? new String[0] : tokens;
        int[] values = new int[words.length];
        for (int i = 0; i < words.length; i++) {
            try {
                values[i] = Integer.parseInt(words[i]);
            } catch (NumberFormatException e) {
                throw usage("token is not a decimal int32: " + words[i]);
            }
        }
        HashCommand.Request request;
        try {
            request = new HashCommand.Request(parsedStrategy, parsed, seed, blockSize, loraName, cacheSalt, values);
        } catch (IllegalArgumentException e) {
            throw usage(String.valueOf(e.getMessage()));
        }
        return HashCommand.run(request, in, out, err);
    }

    private ParameterException usage(String message) {
        return new ParameterException(spec.commandLine(), message);
    }
}
