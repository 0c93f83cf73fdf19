/** Module root package; everything here is non-null unless marked {@code @Nullable}. */
@NullMarked
package io.conductor.daemon;

import org.jspecify.annotations.NullMarked;
