/* cidr.c: IPv4 and IPv6 networks (see cidr.h). */
#include "util/cidr.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* ::ffff:a.b.c.d/bits (bits >= 96) becomes a.b.c.d/(bits - 96). */
static void unmap_ipv4(cidr *c)
{
    if (c->family != 6 || c->bits < 96 || memcmp(c->addr, v4_mapped_prefix, 12) != 0)
        return;
    memmove(c->addr, c->addr + 12, 4);
    memset(c->addr + 4, 0, 12);
    c->family = 4;
    c->bits -= 96;
}

/* An address of its own family, full length, not yet unmapped. */
static int read_address(const char *text, cidr *out)
{
    memset(out, 0, sizeof *out);
    if (strchr(text, ':')) {
        if (inet_pton(AF_INET6, text, out->addr) != 1)
            return -1;
        out->family = 6;
        out->bits = 128;
    } else {
        if (inet_pton(AF_INET, text, out->addr) != 1)
            return -1;
        out->family = 4;
        out->bits = 32;
    }
    return 0;
}

int cidr_parse_address(const char *text, cidr *out)
{
    if (read_address(text, out) < 0)
        return -1;
    unmap_ipv4(out);
    return 0;
}

int cidr_parse(const char *text, cidr *out)
{
    char address[64];
    const char *slash = strchr(text, '/');

    if (!slash)
        return cidr_parse_address(text, out);
    size_t len = (size_t)(slash - text);
    const char *bits = slash + 1;
    size_t digits = strspn(bits, "0123456789");
    if (len == 0 || len >= sizeof address || digits == 0 || digits > 3 || bits[digits] != '\0')
        return -1;
    memcpy(address, text, len);
    address[len] = '\0';
    /* The length counts in the address's own family: ::ffff:10.0.0.0/104
     * is 10.0.0.0/8. */
    if (read_address(address, out) < 0)
        return -1;
    unsigned n = (unsigned)strtoul(bits, NULL, 10);
    if (n > out->bits)
        return -1;
    out->bits = n;
    unmap_ipv4(out);
    return 0;
}

int cidr_contains(const cidr *net, const cidr *ip)
{
    unsigned whole = net->bits / 8, rest = net->bits % 8;

    if (net->family != ip->family)
        return 0;
    if (memcmp(net->addr, ip->addr, whole) != 0)
        return 0;
    if (rest == 0)
        return 1;
    unsigned mask = (0xffu << (8 - rest)) & 0xffu;
    return (net->addr[whole] & mask) == (ip->addr[whole] & mask);
}

const char *cidr_address_text(const cidr *ip, char *out, size_t size)
{
    if (!inet_ntop(ip->family == 6 ? AF_INET6 : AF_INET, ip->addr, out, (socklen_t)size) && size)
        out[0] = '\0';
    return out;
}

int cidr_list_add(cidr_list *list, const cidr *net)
{
    cidr *grown = realloc(list->items, (list->count + 1) * sizeof *grown);
    if (!grown)
        return -1;
    grown[list->count++] = *net;
    list->items = grown;
    return 0;
}

int cidr_list_contains(const cidr_list *list, const cidr *ip)
{
    if (!list)
        return 0;
    for (size_t i = 0; i < list->count; i++)
        if (cidr_contains(&list->items[i], ip))
            return 1;
    return 0;
}

void cidr_list_free(cidr_list *list)
{
    free(list->items);
    list->items = NULL;
    list->count = 0;
}
