/* client_ip.c: the address a request came from (see http.h): the TCP
 * peer, or, when the peer is a proxy the operator trusts, the client that
 * proxy names in X-Forwarded-For.
 *
 * Each proxy appends the address it got the request from, so the list runs
 * from the client on the left to the last proxy on the right, and only its
 * right end is vouched for: whatever stands left of an untrusted hop was
 * written by that hop, which may be the client lying. So the list (every
 * X-Forwarded-For header, in order, as one comma-separated list) is read
 * from the right: trusted proxies are passed over, and the first address
 * that is not one of them is the client. A hop that is not an IP address
 * ("unknown", "host:port", garbage) ends the walk at the last trusted hop:
 * nothing written beyond it gets through. A list of trusted proxies only
 * names its leftmost as the client; an empty list leaves the peer. */
#include "http/http.h"

#include <stdio.h>
#include <string.h>

/* Room for an address as text; anything longer is not one. */
#define HOP_MAX 64

enum walk {
    WALK_ON,     /* a trusted proxy, or an empty list element: read on leftwards */
    WALK_CLIENT, /* the client: stop */
    WALK_BAD     /* not an address: stop, keeping the last trusted hop */
};

/* Reads the hop between start and end (blanks around it allowed): sets
 * *hop to it when it is an address, and says whether to read on. An empty
 * list element is skipped, as RFC 9110 §5.6.1 asks. */
static enum walk read_hop(const char *start, const char *end, const cidr_list *trusted, cidr *hop,
                          int *have_hop)
{
    char text[HOP_MAX];

    while (start < end && (*start == ' ' || *start == '\t'))
        start++;
    while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (start == end)
        return WALK_ON;
    size_t len = (size_t)(end - start);
    if (len >= sizeof text)
        return WALK_BAD;
    memcpy(text, start, len);
    text[len] = '\0';
    cidr address;
    if (cidr_parse_address(text, &address) < 0)
        return WALK_BAD;
    *hop = address;
    *have_hop = 1;
    return cidr_list_contains(trusted, &address) ? WALK_ON : WALK_CLIENT;
}

/* Reads one header value's hops from the right. */
static enum walk read_value(const char *value, const cidr_list *trusted, cidr *hop, int *have_hop)
{
    const char *end = value + strlen(value);
    for (;;) {
        const char *start = end;
        while (start > value && start[-1] != ',')
            start--;
        enum walk w = read_hop(start, end, trusted, hop, have_hop);
        if (w != WALK_ON || start == value)
            return w;
        end = start - 1; /* before the comma */
    }
}

void http_client_address(const http_request *req, const cidr_list *trusted, char *out,
                         size_t out_size)
{
    cidr peer, hop;
    int have_hop = 0;

    snprintf(out, out_size, "%s", req->peer);
    /* A proxy may add its X-Forwarded-For as a header of its own, after the
     * client's: with headers left out, the list may be the client's alone. */
    if (!trusted || trusted->count == 0 || req->headers_incomplete ||
        cidr_parse_address(req->peer, &peer) < 0 || !cidr_list_contains(trusted, &peer))
        return;
    for (size_t i = req->header_count; i-- > 0;) {
        if (strcmp(req->headers[i].name, "x-forwarded-for") != 0)
            continue;
        if (read_value(req->headers[i].value, trusted, &hop, &have_hop) != WALK_ON)
            break;
    }
    if (have_hop)
        cidr_address_text(&hop, out, out_size);
}
