/** End-to-end tests across real processes and sockets; everything is non-null unless marked {@code @Nullable}. */
@NullMarked
package io.conductor.tests;

import org.jspecify.annotations.NullMarked;
