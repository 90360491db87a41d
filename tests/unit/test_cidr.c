/* test_cidr.c: networks and addresses as text (util/cidr.h).
 *
 * The same parser reads RAM policies' IpAddress values and the operator's
 * --trusted-proxy networks, so it must take exactly what inet_pton takes,
 * with an optional "/bits" no longer than the family allows, and nothing
 * else; and containment must be exact to the bit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "util/cidr.h"

/* Whether address lies in network (both must parse). */
static int in(const char *network, const char *address)
{
    cidr net, ip;
    assert_int_equal(cidr_parse(network, &net), 0);
    assert_int_equal(cidr_parse_address(address, &ip), 0);
    return cidr_contains(&net, &ip);
}

static void test_networks_parse(void **state)
{
    (void)state;
    cidr c;
    assert_int_equal(cidr_parse("10.0.0.0/8", &c), 0);
    assert_int_equal(c.family, 4);
    assert_int_equal(c.bits, 8);
    assert_int_equal(cidr_parse("10.1.2.3", &c), 0);
    assert_int_equal(c.bits, 32);
    assert_int_equal(cidr_parse("0.0.0.0/0", &c), 0);
    assert_int_equal(c.bits, 0);
    assert_int_equal(cidr_parse("2001:db8::/32", &c), 0);
    assert_int_equal(c.family, 6);
    assert_int_equal(c.bits, 32);
    assert_int_equal(cidr_parse("::1", &c), 0);
    assert_int_equal(c.bits, 128);
    assert_int_equal(cidr_parse("2001:db8::1/128", &c), 0);
    /* A mapped network is the IPv4 one; the length counts in IPv6. */
    assert_int_equal(cidr_parse("::ffff:10.0.0.0/104", &c), 0);
    assert_int_equal(c.family, 4);
    assert_int_equal(c.bits, 8);
    /* Shorter than the mapped prefix: an IPv6 network. */
    assert_int_equal(cidr_parse("::ffff:0:0/95", &c), 0);
    assert_int_equal(c.family, 6);
}

static void test_networks_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "/8", "10.0.0.0/", "10.0.0.0/33", "2001:db8::/129", "10.0.0.0/8/8", "10.0.0.0/+8",
        "10.0.0.0/-1", "10.0.0.0/ 8", "10.0.0.0/8 ", " 10.0.0.0", "10.0.0.0 /8", "10.0.0.0/1000",
        "10.1", "10.0.0.256", "010.0.0.1", "1.2.3.4.5", "example.com", "localhost",
        "fe80::1%eth0", "2001:db8:::1", "[::1]", "10.0.0.0/0x8", "10.0.0.1:80", "*",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cidr c;
        if (cidr_parse(bad[i], &c) == 0)
            fail_msg("accepted \"%s\"", bad[i]);
    }
    /* An address is never a network. */
    cidr c;
    assert_int_equal(cidr_parse_address("10.0.0.0/8", &c), -1);
    assert_int_equal(cidr_parse_address("2001:db8::/32", &c), -1);
    assert_int_equal(cidr_parse_address("", &c), -1);
}

static void test_contains(void **state)
{
    (void)state;
    assert_true(in("10.0.0.0/8", "10.255.0.1"));
    assert_false(in("10.0.0.0/8", "11.0.0.0"));
    assert_true(in("10.1.2.0/23", "10.1.3.255"));
    assert_false(in("10.1.2.0/23", "10.1.4.0"));
    assert_true(in("0.0.0.0/0", "203.0.113.7"));
    assert_true(in("203.0.113.7", "203.0.113.7"));
    assert_false(in("203.0.113.7", "203.0.113.8"));
    /* Host bits of the network do not count past its length. */
    assert_true(in("10.1.2.3/8", "10.9.9.9"));
    assert_true(in("2001:db8::/32", "2001:db8:ffff::1"));
    assert_false(in("2001:db8::/32", "2001:db9::1"));
    assert_true(in("2001:db8:85a3::8a2e:370:7300/122", "2001:db8:85a3::8a2e:370:7334"));
    assert_false(in("2001:db8:85a3::8a2e:370:7300/123", "2001:db8:85a3::8a2e:370:7334"));
    /* Never across families. */
    assert_false(in("::/0", "10.0.0.1"));
    assert_false(in("0.0.0.0/0", "::1"));
    /* Mapped addresses and networks are IPv4 ones, in either place. */
    assert_true(in("127.0.0.1", "::ffff:127.0.0.1"));
    assert_true(in("10.0.0.0/8", "::FFFF:10.2.3.4"));
    assert_true(in("::ffff:10.0.0.0/104", "10.2.3.4"));
    assert_false(in("::ffff:10.0.0.0/104", "11.2.3.4"));
    /* Other embeddings of IPv4 are IPv6. */
    assert_false(in("10.0.0.0/8", "::10.2.3.4"));
    assert_false(in("10.0.0.0/8", "64:ff9b::10.2.3.4"));
}

static void test_address_text(void **state)
{
    (void)state;
    char text[CIDR_ADDRESS_TEXT_MAX];
    cidr c;
    assert_int_equal(cidr_parse_address("2001:DB8:0:0::1", &c), 0);
    assert_string_equal(cidr_address_text(&c, text, sizeof text), "2001:db8::1");
    assert_int_equal(cidr_parse_address("::ffff:192.0.2.1", &c), 0);
    assert_string_equal(cidr_address_text(&c, text, sizeof text), "192.0.2.1");
    assert_int_equal(cidr_parse_address("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", &c), 0);
    assert_string_equal(cidr_address_text(&c, text, sizeof text),
                        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
}

static void test_list(void **state)
{
    (void)state;
    cidr_list list = CIDR_LIST_INIT;
    cidr net, ip;
    assert_int_equal(cidr_parse_address("10.0.0.1", &ip), 0);
    assert_false(cidr_list_contains(NULL, &ip));
    assert_false(cidr_list_contains(&list, &ip));
    assert_int_equal(cidr_parse("192.168.0.0/16", &net), 0);
    assert_int_equal(cidr_list_add(&list, &net), 0);
    assert_false(cidr_list_contains(&list, &ip));
    assert_int_equal(cidr_parse("10.0.0.0/30", &net), 0);
    assert_int_equal(cidr_list_add(&list, &net), 0);
    assert_true(cidr_list_contains(&list, &ip));
    assert_int_equal(list.count, 2);
    cidr_list_free(&list);
    assert_int_equal(list.count, 0);
    assert_false(cidr_list_contains(&list, &ip));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_networks_parse),
        cmocka_unit_test(test_networks_refused),
        cmocka_unit_test(test_contains),
        cmocka_unit_test(test_address_text),
        cmocka_unit_test(test_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
