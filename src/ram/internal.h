/* internal.h: what the files of ram/ share and nobody else needs.
 *
 * policy.c owns the document (Version, Statement, Effect, Action, Resource)
 * and condition.c the Condition block; both report problems the same way, as
 * one line naming the element and its position, so that an operator who
 * attaches a broken policy sees where it breaks. */
#ifndef ECSHOT_RAM_INTERNAL_H
#define ECSHOT_RAM_INTERNAL_H

#include <jansson.h>
#include <stddef.h>

#include "ram/ram.h"
#include "util/buf.h"

/* Room for a name from a document shown in a reason: 64 bytes of it, each
 * possibly escaped as \xNN, plus "..." and the NUL. */
#define RAM_PRINTABLE_MAX (64 * 4 + 4)

/* Appends a formatted reason to why (when not NULL); always returns -1, so
 * that validators can say `return ram_reject(why, ...)`. */
int ram_reject(buf *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Copies s into out (out_size bytes) as printable ASCII: quotes, backslashes
 * and control or non-ASCII bytes escaped, long text cut with "...". Names
 * come from documents and must not break the one-line reason or the log. */
const char *ram_printable(const char *s, char *out, size_t out_size);

/* ASCII-only case folding: policies must not depend on the process locale. */
int ram_ascii_equal_nocase(const char *a, const char *b);

/* Checks the "Condition" element of statement number index. */
int ram_condition_validate(json_t *condition, size_t index, buf *why);

/* Whether a validated Condition block holds for the request. */
int ram_condition_holds(json_t *condition, const ram_request_context *ctx);

#endif
