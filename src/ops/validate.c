/* validate.c: the shapes of the operation's parameters (PROTOCOL.md §4).
 *
 * Validation runs before anything is looked up, on the raw decoded bytes
 * with their length, so a NUL or a byte beyond ASCII in a value is refused
 * here and never reaches a store query or a log line. */
#include "ops/ops.h"

#include <strings.h>

static int is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* "i-" followed by 20 lower-case letters and digits. */
int ops_valid_instance_id(const char *s, size_t len)
{
    if (len != 22 || s[0] != 'i' || s[1] != '-')
        return 0;
    for (size_t i = 2; i < len; i++)
        if (!is_lower_alnum(s[i]))
            return 0;
    return 1;
}

/* Lower-case words of letters and digits joined by single '-', 2 to 64
 * bytes: cn-hangzhou, ap-southeast-1, cn-shanghai-finance-1. */
int ops_valid_region_id(const char *s, size_t len)
{
    if (len < 2 || len > 64 || s[0] == '-' || s[len - 1] == '-')
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '-') {
            if (s[i - 1] == '-')
                return 0;
        } else if (!is_lower_alnum(s[i])) {
            return 0;
        }
    }
    return 1;
}

int ops_parse_bool(const char *s, size_t len)
{
    if (len == 4 && strncasecmp(s, "true", 4) == 0)
        return 1;
    if (len == 5 && strncasecmp(s, "false", 5) == 0)
        return 0;
    return -1;
}
