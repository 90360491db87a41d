/* sig_internal.h: pieces shared by the two signature styles, not part of auth.h.
 *
 * V1 and V3 both sign a list of parameters sorted by name and joined as
 * encode(name)=encode(value)&...; they differ only in which parameters
 * count. The helper lives in percent.c beside the encoding it relies on. */
#ifndef ECSHOT_AUTH_SIG_INTERNAL_H
#define ECSHOT_AUTH_SIG_INTERNAL_H

#include "api/params.h"
#include "util/buf.h"

/* Appends the sorted, encoded k=v&k=v form of pl. Parameters named
 * skip_name (NULL: none) are left out, and so are body parameters when
 * query_only is set. Names are sorted in byte order, equal names by value.
 * Returns 0, or -1 when memory ran out. */
int sig_append_sorted_params(buf *out, const param_list *pl, const char *skip_name,
                             int query_only);

#endif
