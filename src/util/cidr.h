/* cidr.h: IPv4 and IPv6 networks ("10.0.0.0/8", "2001:db8::/32") and
 * whether an address lies in one.
 *
 * RAM's IpAddress conditions and the trusted proxies of X-Forwarded-For ask
 * the same question; this is the one place that answers it. Text is read
 * with inet_pton and nothing else: no hostnames, no zone ids, no shortened
 * IPv4 ("10.1"), no leading or trailing blanks.
 *
 * An IPv4-mapped IPv6 address (::ffff:a.b.c.d, how a dual-stack socket
 * reports an IPv4 peer) is the IPv4 address a.b.c.d wherever it appears,
 * and a network inside ::ffff:0:0/96 the matching IPv4 network: operators
 * write IPv4 networks for IPv4 clients however the socket saw them. */
#ifndef ECSHOT_UTIL_CIDR_H
#define ECSHOT_UTIL_CIDR_H

#include <stddef.h>

/* Longest address as text, with its NUL (INET6_ADDRSTRLEN). */
#define CIDR_ADDRESS_TEXT_MAX 46

typedef struct cidr {
    int family;             /* 4 or 6 */
    unsigned char addr[16]; /* network byte order; IPv4 in the first 4 */
    unsigned bits;          /* prefix length: up to 32 or 128 */
} cidr;

/* "address" or "address/bits"; a bare address is a network of full length
 * (/32 or /128). Returns 0, or -1 when text is anything else. */
int cidr_parse(const char *text, cidr *out);

/* One address, without "/bits", as a network of full length. 0 or -1. */
int cidr_parse_address(const char *text, cidr *out);

/* Whether network net holds address ip; never across families. */
int cidr_contains(const cidr *net, const cidr *ip);

/* The address part of ip as inet_ntop writes it (size at least
 * CIDR_ADDRESS_TEXT_MAX); returns out. */
const char *cidr_address_text(const cidr *ip, char *out, size_t size);

/* A set of networks, e.g. the proxies an operator trusts. */
typedef struct cidr_list {
    cidr *items;
    size_t count;
} cidr_list;

#define CIDR_LIST_INIT {NULL, 0}

/* Appends net; 0, or -1 when memory ran out. */
int cidr_list_add(cidr_list *list, const cidr *net);
/* Whether any network of list (NULL: none) holds ip. */
int cidr_list_contains(const cidr_list *list, const cidr *ip);
void cidr_list_free(cidr_list *list);

#endif
