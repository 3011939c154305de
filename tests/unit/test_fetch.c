/* test_fetch.c — the address filter of file_url and callback_url fetches (core/clients/fetch.c):
 * which addresses a fetch may reach, how a URL's host is read, and that every spelling of an
 * inside address (decimal, octal, hex, short, IPv4 in IPv6, a name) is refused before any
 * connection.  No fetch here leaves the machine: every one is refused or aimed at a closed local
 * port. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clients/fetch.h"
#include "unit.h"
#include "unit_loop.h"

/* fetch_address_forbidden for an address literal: 1 forbidden, 0 allowed, -1 not a literal. */
static int forbidden(const char *literal, int allow_loopback) {
    struct sockaddr_storage ss = {0};
    if (inet_pton(AF_INET, literal, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
        ss.ss_family = AF_INET;
    } else if (inet_pton(AF_INET6, literal, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
        ss.ss_family = AF_INET6;
    } else {
        return -1;
    }
    return fetch_address_forbidden((struct sockaddr *)&ss, allow_loopback);
}

static void test_addresses(void) {
    const char *refused[] = {
        /* IPv4: loopback, "this network", private, shared, link-local and the cloud metadata
         * address in it, protocol assignments, benchmarking, multicast, reserved, broadcast. */
        "127.0.0.1", "127.255.255.254", "0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255",
        "100.64.0.1", "100.127.255.255", "169.254.169.254", "169.254.0.1", "172.16.0.1",
        "172.31.255.255", "192.0.0.1", "192.168.0.1", "192.168.255.255", "198.18.0.1",
        "198.19.255.255", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255",
        /* IPv6: loopback, unspecified, unique local (fd00:ec2::254 is AWS's metadata),
         * link-local, site-local, multicast, documentation. */
        "::1", "::", "fc00::1", "fd00:ec2::254", "fe80::1", "febf::1", "fec0::1", "ff02::1",
        "2001:db8::1",
        /* IPv4 inside IPv6 is judged as that IPv4: mapped, compatible, NAT64. */
        "::ffff:127.0.0.1", "::ffff:7f00:1", "::ffff:169.254.169.254", "::ffff:10.0.0.1",
        "::ffff:0.0.0.0", "::127.0.0.1", "::10.1.2.3", "64:ff9b::a9fe:a9fe", "64:ff9b::192.168.1.1",
        /* 6to4 judged by its IPv4; local-use NAT64 and Teredo refused whole. */
        "2002:7f00:1::1", "2002:a9fe:a9fe::", "2002:c0a8:101::1", "64:ff9b:1::808:808",
        "64:ff9b:1:ffff::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001::1",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        if (forbidden(refused[i], 0) != 1) fprintf(stderr, "%s is allowed\n", refused[i]);
        CHECK(forbidden(refused[i], 0) == 1);
    }
    const char *allowed[] = {
        "1.1.1.1", "8.8.8.8", "9.255.255.255", "11.0.0.1", "100.63.255.255", "100.128.0.1",
        "126.255.255.255", "128.0.0.1", "169.253.255.255", "169.255.0.1", "172.15.255.255",
        "172.32.0.1", "192.0.1.1", "192.167.255.255", "192.169.0.1", "198.17.255.255",
        "198.20.0.1", "223.255.255.255", "2606:4700:4700::1111", "2a00:1450::1", "::ffff:8.8.8.8",
        "64:ff9b::808:808", "fbff::1", "fe00::1", "2001:db9::1", "2002:808:808::1", "2001:1::1",
        "64:ff9b:2::1",
    };
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
        if (forbidden(allowed[i], 0) != 0) fprintf(stderr, "%s is refused\n", allowed[i]);
        CHECK(forbidden(allowed[i], 0) == 0);
    }
    /* The tests-only switch opens loopback, and nothing else. */
    const char *loopback[] = {"127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"};
    for (size_t i = 0; i < sizeof loopback / sizeof loopback[0]; i++) CHECK(forbidden(loopback[i], 1) == 0);
    const char *still[] = {"0.0.0.0", "::", "10.0.0.1", "169.254.169.254", "fe80::1", "::ffff:192.168.0.1"};
    for (size_t i = 0; i < sizeof still / sizeof still[0]; i++) CHECK(forbidden(still[i], 1) == 1);
    /* A family that is neither IPv4 nor IPv6. */
    struct sockaddr sa = {.sa_family = AF_UNIX};
    CHECK(fetch_address_forbidden(&sa, 1) == 1);
}

static void test_url_host(void) {
    char host[256], scheme[16];
    CHECK(fetch_url_host("HTTPS://Example.COM:8443/a?b#c", host, sizeof host, scheme, sizeof scheme) == 0);
    CHECK_STR(host, "example.com");
    CHECK_STR(scheme, "https");
    CHECK(fetch_url_host("https://[::FFFF:127.0.0.1]/", host, sizeof host, scheme, sizeof scheme) == 0);
    CHECK(strchr(host, '[') == NULL && strchr(host, ']') == NULL);
    CHECK(forbidden(host, 0) == 1);
    CHECK(fetch_url_host("https://user:pw@10.0.0.1/", host, sizeof host, scheme, sizeof scheme) == 0);
    CHECK_STR(host, "10.0.0.1");
    CHECK(fetch_url_host("not a url", host, sizeof host, scheme, sizeof scheme) < 0);
    CHECK(fetch_url_host("https://", host, sizeof host, scheme, sizeof scheme) < 0);
    CHECK(fetch_url_host("https://example.com/", host, 5, scheme, sizeof scheme) < 0);
}

/* ---- whole fetches: refused before they connect ---- */

struct outcome {
    int done;
    char err[512];
};

static void on_fetched(void *ud, const char *data, size_t len, const char *err) {
    (void)data;
    (void)len;
    struct outcome *o = ud;
    o->done++;
    snprintf(o->err, sizeof o->err, "%s", err ? err : "");
}

/* Fetch `url`; the error it ends with ("" on success), or the error it could not start with. */
static const char *fetch_error(const char *url, int allow_loopback, struct outcome *o) {
    struct fetch_opts opts = {.max_bytes = 1024, .timeout_ms = 3000, .allow_loopback = allow_loopback};
    memset(o, 0, sizeof *o);
    char err[512];
    struct fetch *f = fetch_start(loop, url, &opts, on_fetched, o, err, sizeof err);
    if (!f) {
        snprintf(o->err, sizeof o->err, "%s", err);
        return o->err;
    }
    if (!RUN_UNTIL(o->done, 5000)) {
        fetch_cancel(f);
        return "(no answer)";
    }
    return o->err;
}

static void test_fetches(void) {
    struct outcome o;
    const char *inside[] = {
        "https://127.0.0.1/", "https://2130706433/", "https://0x7f000001/", "https://0x7f.0.0.1/",
        "https://0177.0.0.1/", "https://017700000001/", "https://127.1/", "https://127.0.1/",
        "https://0/", "https://0.0.0.0/", "https://[::1]/", "https://[::]/", "https://[::ffff:127.0.0.1]/",
        "https://[::ffff:7f00:1]/", "https://[0:0:0:0:0:ffff:a9fe:a9fe]/",
        "https://169.254.169.254/latest/meta-data/", "https://2852039166/", "https://0xa9fea9fe/",
        "https://0251.0376.0251.0376/", "https://[fd00:ec2::254]/", "https://[fe80::1%25lo]/",
        "https://10.1.2.3:8443/x", "https://192.168.1.1/", "https://172.16.0.1/", "https://localhost/",
        "https://LocalHost/", "https://user@127.0.0.1:443/",
    };
    for (size_t i = 0; i < sizeof inside / sizeof inside[0]; i++) {
        const char *err = fetch_error(inside[i], 0, &o);
        int refused = strstr(err, "loopback or private") != NULL;
        if (!refused) fprintf(stderr, "%s: %s\n", inside[i], err);
        CHECK(refused);
    }
    /* Only https; the URL must parse. */
    CHECK(strstr(fetch_error("http://example.com/", 0, &o), "must be an https URL") != NULL);
    CHECK(strstr(fetch_error("file:///etc/passwd", 0, &o), "not a valid URL") != NULL); /* no host */
    CHECK(strstr(fetch_error("ftp://example.com/", 0, &o), "must be an https URL") != NULL);
    CHECK(strstr(fetch_error("gopher://127.0.0.1/", 0, &o), "https") != NULL);
    CHECK(strstr(fetch_error("https://", 0, &o), "not a valid URL") != NULL);
    /* With loopback allowed (tests only) the filter lets 127.0.0.1 through to the connection,
     * which a closed port refuses: the error is the transfer's, not the filter's. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0); /* bound, never listening: refused */
    CHECK(getsockname(fd, (struct sockaddr *)&a, &alen) == 0);
    char url[64];
    snprintf(url, sizeof url, "https://127.0.0.1:%d/", ntohs(a.sin_port));
    const char *err = fetch_error(url, 1, &o);
    CHECK(strstr(err, "could not be fetched") != NULL);
    CHECK(strstr(fetch_error(url, 0, &o), "loopback or private") != NULL);
    snprintf(url, sizeof url, "https://10.0.0.1:%d/", ntohs(a.sin_port));
    CHECK(strstr(fetch_error(url, 1, &o), "loopback or private") != NULL);
    close(fd);
}

int main(void) {
    loop = uv_default_loop();
    test_addresses();
    test_url_host();
    test_fetches();
    int never = 0;
    run_until(&never, 100);
    return unit_report();
}
