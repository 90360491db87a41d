/* fuzz_check.h: the harnesses' assertion: a broken property is a crash.
 *
 * libFuzzer reports a crash (and keeps the input) when the process aborts,
 * so a property the code must keep is checked with FUZZ_CHECK, which names
 * the failed expression and aborts. It stays on whatever NDEBUG says. */
#ifndef ECSHOT_FUZZ_CHECK_H
#define ECSHOT_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "%s:%d: property broken: %s\n", __FILE__, __LINE__, #cond);   \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

#endif
