package io.conductor.example.engine;

import java.util.ArrayList;
import java.util.List;

/**
 * The simulated engine's deterministic tokenizer: every word (a run of letters and digits, with the whitespace
 * before it) and every other non-space character is one token, whose id is a stable hash of its text. The same text
 * always gives the same ids in every process, which is all prefix caching needs. Chats are rendered with a
 * ChatML-like template ({@code <|im_start|>role\n content <|im_end|>\n}), so conversations that share a system
 * prompt share a token prefix.
 *
 * <p>Immutable and thread-safe.
 */
public final class WordTokenizer {
    /** Token id of {@code <|im_start|>}. */
    public static final int IM_START = 1;
    /** Token id of {@code <|im_end|>}. */
    public static final int IM_END = 2;
    /** First id used for ordinary tokens; ids below are reserved for special tokens. */
    public static final int FIRST_WORD_ID = 100;
    /** Vocabulary size; ordinary ids lie in {@code [FIRST_WORD_ID, VOCAB_SIZE)}. */
    public static final int VOCAB_SIZE = 151_936;

    private static final String[] REPLY_WORDS = {
        " the", " cache", " block", " prefix", " engine", " token", " is", " served", " quickly", " and",
        " reused", " across", " requests", ".", " a", " decode", " step", " follows", " prefill", ",",
    };

    /**
     * One chat message.
     *
     * @param role the role, e.g. {@code system}
     * @param content the text
     */
    public record ChatMessage(String role, String content) {
    }

    /**
     * Tokenizes plain text.
     *
     * @param text the text
     * @return token ids, one per word or punctuation character
     */
    public int[] encode(String text) {
        List<Integer> ids = new ArrayList<>();
        appendText(text, ids);
        return toArray(ids);
    }

    /**
     * Tokenizes a chat with the built-in template.
     *
     * @param messages the messages in order
     * @param addGenerationPrompt whether to append the assistant header that starts the reply
     * @return token ids
     */
    public int[] encodeChat(List<ChatMessage> messages, boolean addGenerationPrompt) {
        List<Integer> ids = new ArrayList<>();
        for (ChatMessage m : messages) {
            ids.add(IM_START);
            appendText(m.role(), ids);
            ids.add(wordId("\n"));
            appendText(m.content(), ids);
            ids.add(IM_END);
            ids.add(wordId("\n"));
        }
        if (addGenerationPrompt) {
            ids.add(IM_START);
            appendText("assistant", ids);
            ids.add(wordId("\n"));
        }
        return toArray(ids);
    }

    /**
     * Returns the text of the {@code index}-th generated token for a prompt: the reply is deterministic for a given
     * prompt so repeated runs print the same thing.
     *
     * @param promptFingerprint any value derived from the prompt
     * @param index position in the reply, from 0
     * @return the token's text (with its leading space, if any)
     */
    public String replyToken(long promptFingerprint, int index) {
        long x = promptFingerprint * 0x9E3779B97F4A7C15L + index * 0xBF58476D1CE4E5B9L;
        x ^= x >>> 31;
        return REPLY_WORDS[(int) Long.remainderUnsigned(x, REPLY_WORDS.length)];
    }

    /**
     * Returns the id of one token's text (a word with its leading whitespace, or one character).
     *
     * @param token the token text
     * @return its id in {@code [FIRST_WORD_ID, VOCAB_SIZE)}
     */
    public static int wordId(String token) {
        int h = 0x811c9dc5;
        for (int i = 0; i < token.length(); i++) {
            h ^= token.charAt(i);
            h *= 0x01000193;
        }
        return FIRST_WORD_ID + Integer.remainderUnsigned(h, VOCAB_SIZE - FIRST_WORD_ID);
    }

    private static void appendText(String text, List<Integer> ids) {
        int i = 0;
        int n = text.length();
        while (i < n) {
            int start = i;
            while (i < n && text.charAt(i) == ' ') {
                i++;
            }
            if (i < n && Character.isLetterOrDigit(text.charAt(i))) {
                while (i < n && Character.isLetterOrDigit(text.charAt(i))) {
                    i++;
                }
            } else if (i < n) {
                i++;
            }
            ids.add(wordId(text.substring(start, i)));
        }
    }

    private static int[] toArray(List<Integer> ids) {
        int[] out = new int[ids.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = ids.get(i);
        }
        return out;
    }
}
