/* libvirt_target.c: the shape of a "libvirt:URI#DOMAIN" console URL.
 *
 * Kept apart from the backend (libvirt.c), which is a module loaded on
 * first use (see module.c): checking a URL when an instance is added must
 * not load libvirt. */
#include "console/backends.h"

#include <string.h>

/* "URI#NAME": a URI that starts with a scheme, a '#', a name without
 * control characters. */
int libvirt_target_valid(const char *target)
{
    const char *hash = strchr(target, '#');
    if (!hash || hash == target)
        return 0;
    size_t scheme = 0;
    while (target + scheme < hash &&
           ((target[scheme] >= 'a' && target[scheme] <= 'z') ||
            (scheme > 0 && ((target[scheme] >= '0' && target[scheme] <= '9') ||
                            target[scheme] == '+' || target[scheme] == '-' ||
                            target[scheme] == '.'))))
        scheme++;
    if (scheme == 0 || target[scheme] != ':')
        return 0;
    for (const char *p = target; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return 0;
    size_t name_len = strlen(hash + 1);
    return name_len > 0 && name_len <= LIBVIRT_NAME_MAX;
}
