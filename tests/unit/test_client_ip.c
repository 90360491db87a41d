/* test_client_ip.c: which address a request came from (http_client_address).
 *
 * The answer is RAM's acs:SourceIp, so every rule is checked from the side
 * of a client that wants to lie: X-Forwarded-For counts only from a trusted
 * peer, only its trusted right end is believed, and an entry that is not an
 * address stops the walk instead of letting what stands left of it through. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "http/http.h"
#include "util/cidr.h"

#define MAX_HEADERS 8

/* The proxies trusted in most tests: a loopback proxy, a private proxy
 * network, and an IPv6 one. */
static const char *const default_trusted[] = {"127.0.0.1", "10.0.0.0/8", "2001:db8:aa::/48", NULL};

static void make_list(cidr_list *list, const char *const *networks)
{
    *list = (cidr_list)CIDR_LIST_INIT;
    for (; networks && *networks; networks++) {
        cidr net;
        assert_int_equal(cidr_parse(*networks, &net), 0);
        assert_int_equal(cidr_list_add(list, &net), 0);
    }
}

/* The client of a request from peer carrying the given headers (name,
 * value pairs, NULL-terminated; names lower-case, as the server hands them
 * over), with networks trusted. */
static const char *client_of(const char *const *networks, const char *peer, ...)
{
    static char out[64];
    http_header headers[MAX_HEADERS];
    http_request req = {.method = "GET", .target = "/", .path = "/", .query = "", .body = ""};
    cidr_list trusted;
    va_list ap;

    snprintf(req.peer, sizeof req.peer, "%s", peer);
    va_start(ap, peer);
    for (const char *name; (name = va_arg(ap, const char *));) {
        assert_true(req.header_count < MAX_HEADERS);
        headers[req.header_count].name = (char *)name;
        headers[req.header_count].value = va_arg(ap, char *);
        req.header_count++;
    }
    va_end(ap);
    req.headers = headers;
    make_list(&trusted, networks);
    memset(out, 'x', sizeof out);
    http_client_address(&req, &trusted, out, sizeof out);
    cidr_list_free(&trusted);
    return out;
}

#define XFF "x-forwarded-for"
#define T default_trusted

static void test_untrusted_peer_ignores_header(void **state)
{
    (void)state;
    assert_string_equal(client_of(T, "198.51.100.9", NULL), "198.51.100.9");
    assert_string_equal(client_of(T, "198.51.100.9", XFF, "203.0.113.7", NULL), "198.51.100.9");
    assert_string_equal(client_of(T, "198.51.100.9", XFF, "10.0.0.1", NULL), "198.51.100.9");
    assert_string_equal(client_of(T, "127.0.0.2", XFF, "203.0.113.7", NULL), "127.0.0.2");
    /* Nobody trusted at all: NULL or an empty list. */
    assert_string_equal(client_of(NULL, "127.0.0.1", XFF, "203.0.113.7", NULL), "127.0.0.1");
    http_header h = {XFF, "203.0.113.7"};
    http_request req = {.headers = &h, .header_count = 1};
    char out[64];
    snprintf(req.peer, sizeof req.peer, "127.0.0.1");
    http_client_address(&req, NULL, out, sizeof out);
    assert_string_equal(out, "127.0.0.1");
    /* A peer that is not an address (unknown to the server) is nobody's proxy. */
    assert_string_equal(client_of(T, "", XFF, "203.0.113.7", NULL), "");
}

static void test_trusted_peer_takes_rightmost_untrusted(void **state)
{
    (void)state;
    assert_string_equal(client_of(T, "127.0.0.1", XFF, "203.0.113.7", NULL), "203.0.113.7");
    assert_string_equal(client_of(T, "10.1.1.1", XFF, "203.0.113.7", NULL), "203.0.113.7");
    /* What the client wrote itself stands left of the address its proxy saw. */
    assert_string_equal(client_of(T, "127.0.0.1", XFF, "203.0.113.7, 198.51.100.9", NULL),
                        "198.51.100.9");
    assert_string_equal(client_of(T, "127.0.0.1", XFF, "10.9.9.9, 203.0.113.7", NULL),
                        "203.0.113.7");
    /* No header, or a trusted peer whose header is about another hop. */
    assert_string_equal(client_of(T, "127.0.0.1", NULL), "127.0.0.1");
    assert_string_equal(client_of(T, "127.0.0.1", "x-real-ip", "203.0.113.7", "forwarded",
                                  "for=203.0.113.7", NULL),
                        "127.0.0.1");
}

static void test_chains_of_trusted_proxies(void **state)
{
    (void)state;
    /* client → 10.0.0.2 → 10.0.0.1 → 127.0.0.1 (the peer). */
    assert_string_equal(client_of(T, "127.0.0.1", XFF, "203.0.113.7, 10.0.0.2, 10.0.0.1", NULL),
                        "203.0.113.7");
    assert_string_equal(
        client_of(T, "127.0.0.1", XFF, "192.0.2.1, 203.0.113.7, 10.0.0.2, 10.0.0.1", NULL),
        "203.0.113.7");
    /* Every hop trusted: the leftmost is as far as the list goes. */
    assert_string_equal(client_of(T, "127.0.0.1", XFF, "10.0.0.3, 10.0.0.2, 10.0.0.1", NULL),
                        "10.0.0.3");
    assert_string_equal(client_of(T, "127.0.0.1", XFF, "127.0.0.1", NULL), "127.0.0.1");
    /* A trusted address left of an untrusted one is the untrusted one's word. */
    assert_string_equal(client_of(T, "127.0.0.1", XFF, "10.0.0.5, 198.51.100.9, 10.0.0.1", NULL),
                        "198.51.100.9");
}

static void test_malformed_entries_stop_the_walk(void **state)
{
    (void)state;
    static const char *const junk[] = {
        "unknown", "203.0.113.7:443", "[2001:db8::1]", "[2001:db8::1]:443", "203.0.113.0/24",
        "example.com", "203.0.113", "203.0.113.007", "fe80::1%eth0", "203.0.113.7 198.51.100.9",
        "\"203.0.113.7\"", "for=203.0.113.7", "203.0.113.7\x01", "2001:db8::1:ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        "1111111111111111111111111111111111111111111111111111111111111111111111",
    };
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        char value[256];
        /* Rightmost: the peer is the last trusted hop. */
        if (strcmp(client_of(T, "127.0.0.1", XFF, junk[i], NULL), "127.0.0.1") != 0)
            fail_msg("\"%s\" alone gave %s", junk[i], client_of(T, "127.0.0.1", XFF, junk[i], NULL));
        /* Behind a trusted hop: that hop, never what stands left. */
        snprintf(value, sizeof value, "198.51.100.9, %s, 10.0.0.1", junk[i]);
        if (strcmp(client_of(T, "127.0.0.1", XFF, value, NULL), "10.0.0.1") != 0)
            fail_msg("\"%s\" gave %s", value, client_of(T, "127.0.0.1", XFF, value, NULL));
    }
    /* Left of the client it is never read. */
    assert_string_equal(client_of(T, "127.0.0.1", XFF, "garbage, 203.0.113.7", NULL), "203.0.113.7");
}

static void test_ipv6(void **state)
{
    (void)state;
    assert_string_equal(client_of(T, "2001:db8:aa::1", XFF, "2001:db8:bb::7", NULL),
                        "2001:db8:bb::7");
    /* The text is the address's own, whatever the header's spelling. */
    assert_string_equal(client_of(T, "2001:db8:aa::1", XFF, "2001:DB8:BB:0:0:0:0:7", NULL),
                        "2001:db8:bb::7");
    assert_string_equal(
        client_of(T, "2001:db8:aa::1", XFF, "203.0.113.7, 2001:db8:aa::9, 10.0.0.1", NULL),
        "203.0.113.7");
    assert_string_equal(client_of(T, "2001:db8:ab::1", XFF, "203.0.113.7", NULL), "2001:db8:ab::1");
    assert_string_equal(client_of(T, "127.0.0.1", XFF, "2001:db8:cc::1, 2001:db8:aa::2", NULL),
                        "2001:db8:cc::1");
}

static void test_mapped_addresses(void **state)
{
    (void)state;
    /* A dual-stack socket's IPv4 peer is trusted under its IPv4 network. */
    assert_string_equal(client_of(T, "::ffff:127.0.0.1", XFF, "203.0.113.7", NULL), "203.0.113.7");
    assert_string_equal(client_of(T, "::ffff:10.2.3.4", XFF, "203.0.113.7", NULL), "203.0.113.7");
    assert_string_equal(client_of(T, "::ffff:198.51.100.9", XFF, "203.0.113.7", NULL),
                        "::ffff:198.51.100.9");
    /* Mapped hops are IPv4 hops too, and are named as such. */
    assert_string_equal(client_of(T, "127.0.0.1", XFF, "::ffff:203.0.113.7, ::ffff:10.0.0.1", NULL),
                        "203.0.113.7");
    /* Networks written in mapped form trust IPv4 peers. */
    static const char *const mapped[] = {"::ffff:127.0.0.0/104", NULL};
    assert_string_equal(client_of(mapped, "127.0.0.1", XFF, "203.0.113.7", NULL), "203.0.113.7");
}

static void test_multiple_headers(void **state)
{
    (void)state;
    /* Several headers are one list, in their order. */
    assert_string_equal(client_of(T, "127.0.0.1", XFF, "198.51.100.9", XFF, "203.0.113.7", NULL),
                        "203.0.113.7");
    assert_string_equal(client_of(T, "127.0.0.1", XFF, "203.0.113.7", XFF, "10.0.0.2, 10.0.0.1",
                                  NULL),
                        "203.0.113.7");
    assert_string_equal(client_of(T, "127.0.0.1", XFF, "192.0.2.1, 203.0.113.7", "user-agent", "x",
                                  XFF, "10.0.0.1", NULL),
                        "203.0.113.7");
    /* A bad entry in a later header stops before the earlier ones. */
    assert_string_equal(client_of(T, "127.0.0.1", XFF, "203.0.113.7", XFF, "bogus, 10.0.0.1", NULL),
                        "10.0.0.1");
    assert_string_equal(client_of(T, "127.0.0.1", XFF, "203.0.113.7", XFF, "bogus", NULL),
                        "127.0.0.1");
    /* All trusted across headers: the leftmost of the first. */
    assert_string_equal(client_of(T, "127.0.0.1", XFF, "10.0.0.3", XFF, "10.0.0.2", NULL),
                        "10.0.0.3");
}

static void test_empty_and_blank(void **state)
{
    (void)state;
    assert_string_equal(client_of(T, "127.0.0.1", XFF, "", NULL), "127.0.0.1");
    assert_string_equal(client_of(T, "127.0.0.1", XFF, " \t ", NULL), "127.0.0.1");
    assert_string_equal(client_of(T, "127.0.0.1", XFF, ",", NULL), "127.0.0.1");
    assert_string_equal(client_of(T, "127.0.0.1", XFF, "", XFF, "203.0.113.7", NULL), "203.0.113.7");
    assert_string_equal(client_of(T, "127.0.0.1", XFF, "203.0.113.7", XFF, "", NULL), "203.0.113.7");
    /* Empty list elements are skipped, not taken for a bad hop. */
    assert_string_equal(client_of(T, "127.0.0.1", XFF, "203.0.113.7,", NULL), "203.0.113.7");
    assert_string_equal(client_of(T, "127.0.0.1", XFF, ", ,203.0.113.7", NULL), "203.0.113.7");
    assert_string_equal(client_of(T, "127.0.0.1", XFF, "198.51.100.9,,10.0.0.1", NULL),
                        "198.51.100.9");
    /* Blanks around entries are list syntax. */
    assert_string_equal(client_of(T, "127.0.0.1", XFF, "  203.0.113.7\t,\t10.0.0.1  ", NULL),
                        "203.0.113.7");
    assert_string_equal(client_of(T, "127.0.0.1", XFF, "198.51.100.9 ,203.0.113.7", NULL),
                        "203.0.113.7");
}

static void test_incomplete_headers(void **state)
{
    (void)state;
    /* The server could not keep every header: the proxy's own
     * X-Forwarded-For may be among those dropped, and what is left may be
     * the client's word alone. */
    http_header h = {XFF, "203.0.113.7"};
    http_request req = {.headers = &h, .header_count = 1, .headers_incomplete = 1};
    cidr_list trusted;
    char out[64];
    make_list(&trusted, T);
    snprintf(req.peer, sizeof req.peer, "127.0.0.1");
    http_client_address(&req, &trusted, out, sizeof out);
    assert_string_equal(out, "127.0.0.1");
    req.headers_incomplete = 0;
    http_client_address(&req, &trusted, out, sizeof out);
    assert_string_equal(out, "203.0.113.7");
    cidr_list_free(&trusted);
}

static void test_output_bounded(void **state)
{
    (void)state;
    http_header h = {XFF, "2001:db8:bb::7"};
    http_request req = {.headers = &h, .header_count = 1};
    cidr_list trusted;
    char out[8];
    make_list(&trusted, T);
    snprintf(req.peer, sizeof req.peer, "127.0.0.1");
    memset(out, 'x', sizeof out);
    http_client_address(&req, &trusted, out, sizeof out);
    /* Too small for the address: empty (no address, so no IpAddress
     * condition holds), never a prefix of it that passes for another. */
    assert_string_equal(out, "");
    cidr_list_free(&trusted);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_untrusted_peer_ignores_header),
        cmocka_unit_test(test_trusted_peer_takes_rightmost_untrusted),
        cmocka_unit_test(test_chains_of_trusted_proxies),
        cmocka_unit_test(test_malformed_entries_stop_the_walk),
        cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_mapped_addresses),
        cmocka_unit_test(test_multiple_headers),
        cmocka_unit_test(test_empty_and_blank),
        cmocka_unit_test(test_incomplete_headers),
        cmocka_unit_test(test_output_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
