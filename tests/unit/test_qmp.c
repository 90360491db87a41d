/* test_qmp.c: the console pool and the "qmp:" backend against real QEMU.
 *
 * Each test starts qemu-system-x86_64 (TCG, 16 MB, no disks: SeaBIOS ends
 * on "No bootable device." in 720x400 text mode) with -daemonize, which
 * returns only once the QMP socket listens: that is the synchronisation.
 * A second QMP socket, driven directly here, plays the operator who pauses
 * the VM or inspects its fd sets. Killed VMs are awaited through a pidfd
 * and reaped: the test is the subreaper of the daemonized QEMUs.
 * Everything lives in a mkdtemp directory removed at the end. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "console/console.h"
#include "util/buf.h"
#include "image/image.h"
#include "util/timeutil.h"

#define POOL_TIMEOUT_MS 10000
#define MAX_VMS 8

static char tmpdir[64];

typedef struct vm {
    pid_t pid;
    int pidfd;
    char sock[128];    /* the socket ecshot uses */
    char ops[128];     /* a second monitor for the test itself */
    char pidfile[128];
    char url[140];
} vm;

static vm vms[MAX_VMS];
static int nvms;

/* ---- QEMU processes ------------------------------------------------------- */

static vm *start_qemu_with(const char *name, int prelaunch, const char *kernel)
{
    assert_true(nvms < MAX_VMS);
    vm *v = &vms[nvms++];
    memset(v, 0, sizeof *v);
    v->pidfd = -1;
    snprintf(v->sock, sizeof v->sock, "%s/%s.sock", tmpdir, name);
    snprintf(v->ops, sizeof v->ops, "%s/%s-ops.sock", tmpdir, name);
    snprintf(v->pidfile, sizeof v->pidfile, "%s/%s.pid", tmpdir, name);
    strcpy(v->url, "qmp:");
    strcat(v->url, v->sock);

    char qmp1[200], qmp2[200];
    snprintf(qmp1, sizeof qmp1, "unix:%s,server=on,wait=off", v->sock);
    snprintf(qmp2, sizeof qmp2, "unix:%s,server=on,wait=off", v->ops);
    const char *argv[] = {"qemu-system-x86_64", "-accel", "tcg", "-m", "16", "-nodefaults",
                          "-vga", "std", "-display", "none", "-qmp", qmp1, "-qmp", qmp2,
                          "-daemonize", "-pidfile", v->pidfile,
                          kernel ? "-kernel" : prelaunch ? "-S" : NULL, kernel, NULL};
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ; /* the intermediate process of -daemonize */

    FILE *pf = fopen(v->pidfile, "r");
    assert_non_null(pf);
    int pid = 0;
    assert_int_equal(fscanf(pf, "%d", &pid), 1);
    fclose(pf);
    v->pid = pid;
    v->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    assert_true(v->pidfd >= 0);
    return v;
}

static vm *start_qemu(const char *name, int prelaunch)
{
    return start_qemu_with(name, prelaunch, NULL);
}

/* SIGKILL, then wait until the process is really gone. */
static void kill_qemu(vm *v)
{
    if (v->pid <= 0)
        return;
    kill(v->pid, SIGKILL);
    struct pollfd pfd = {v->pidfd, POLLIN, 0};
    poll(&pfd, 1, 30000);
    close(v->pidfd);
    waitpid(v->pid, NULL, WNOHANG); /* ours through the subreaper */
    v->pid = 0;
    v->pidfd = -1;
    unlink(v->sock);
    unlink(v->ops);
    unlink(v->pidfile);
}

/* ---- the test's own QMP client (on the second monitor) -------------------- */

typedef struct ops_client {
    int fd;
    FILE *in;
} ops_client;

/* Next non-event message. */
static json_t *ops_read(ops_client *o)
{
    for (;;) {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n = getline(&line, &cap, o->in);
        assert_true(n > 0);
        json_t *m = json_loads(line, 0, NULL);
        free(line);
        assert_non_null(m);
        if (!json_object_get(m, "event"))
            return m;
        json_decref(m);
    }
}

/* Reads until the event called name. */
static void ops_wait_event(ops_client *o, const char *name)
{
    for (;;) {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n = getline(&line, &cap, o->in);
        assert_true(n > 0);
        json_t *m = json_loads(line, 0, NULL);
        free(line);
        const char *ev = json_string_value(json_object_get(m, "event"));
        int found = ev && strcmp(ev, name) == 0;
        json_decref(m);
        if (found)
            return;
    }
}

static json_t *ops_cmd(ops_client *o, const char *text)
{
    assert_int_equal(write(o->fd, text, strlen(text)), (ssize_t)strlen(text));
    json_t *m = ops_read(o);
    assert_non_null(json_object_get(m, "return"));
    return m;
}

static void ops_open(ops_client *o, const vm *v)
{
    o->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, v->ops);
    assert_int_equal(connect(o->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    struct timeval tv = {30, 0}; /* a broken test fails instead of hanging */
    setsockopt(o->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    o->in = fdopen(fcntl(o->fd, F_DUPFD_CLOEXEC, 0), "r");
    json_decref(ops_read(o)); /* greeting */
    json_decref(ops_cmd(o, "{\"execute\":\"qmp_capabilities\"}\n"));
}

static void ops_close(ops_client *o)
{
    fclose(o->in);
    close(o->fd);
}

static const char *ops_status(ops_client *o, char *out, size_t size)
{
    json_t *m = ops_cmd(o, "{\"execute\":\"query-status\"}\n");
    const char *st = json_string_value(json_object_get(json_object_get(m, "return"), "status"));
    snprintf(out, size, "%s", st ? st : "");
    json_decref(m);
    return out;
}

static size_t ops_fdset_count(ops_client *o)
{
    json_t *m = ops_cmd(o, "{\"execute\":\"query-fdsets\"}\n");
    size_t n = json_array_size(json_object_get(m, "return"));
    json_decref(m);
    return n;
}

/* ---- a scripted QMP peer ---------------------------------------------------- */

/* Plays one connection from a script of steps:
 *   "<"        read one line from ecshot (keeping its "id" and any fd sent)
 *   "<~TEXT"   the same, and note a failure unless the line contains TEXT
 *   "W:BYTES"  write BYTES into the fd ecshot sent
 *   "T"        make that file 300 MB long (sparse)
 *   "BIG"      send 2 MiB without a newline
 *   anything else is sent as is, with "@ID" replaced by the last id read.
 * At the end of the script the connection is closed. Failures are counted,
 * not asserted: cmocka's asserts belong to the main thread. */
typedef struct fake_peer {
    int srv;
    const char *const *script;
    int failures;
    pthread_t thread;
} fake_peer;

static int fake_read_line(int conn, char *line, size_t size, int *fd)
{
    size_t n = 0;
    for (;;) {
        char ch;
        struct iovec iov = {&ch, 1};
        union {
            char space[CMSG_SPACE(sizeof(int))];
            struct cmsghdr align;
        } control;
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.space,
                             .msg_controllen = sizeof control.space};
        if (recvmsg(conn, &msg, 0) != 1)
            return -1;
        struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
        if (cm && cm->cmsg_type == SCM_RIGHTS) {
            if (*fd >= 0)
                close(*fd);
            memcpy(fd, CMSG_DATA(cm), sizeof(int));
        }
        if (ch == '\n')
            break;
        if (n + 1 < size)
            line[n++] = ch;
    }
    line[n] = '\0';
    return 0;
}

static void *fake_peer_run(void *arg)
{
    fake_peer *fp = arg;
    int conn = accept(fp->srv, NULL, NULL);
    if (conn < 0) {
        fp->failures++;
        return NULL;
    }
    struct timeval tv = {10, 0};
    setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char line[4096], id[32] = "0";
    int fd = -1;
    for (const char *const *step = fp->script; *step; step++) {
        const char *st = *step;
        if (st[0] == '<') {
            if (fake_read_line(conn, line, sizeof line, &fd) < 0) {
                fp->failures++;
                break;
            }
            if (st[1] == '~' && !strstr(line, st + 2))
                fp->failures++;
            json_t *m = json_loads(line, 0, NULL);
            snprintf(id, sizeof id, "%lld", (long long)json_integer_value(json_object_get(m, "id")));
            json_decref(m);
        } else if (strncmp(st, "W:", 2) == 0) {
            if (fd < 0 || write(fd, st + 2, strlen(st + 2)) != (ssize_t)strlen(st + 2))
                fp->failures++;
        } else if (strcmp(st, "T") == 0) {
            if (fd < 0 || ftruncate(fd, 300 * 1000 * 1000) < 0)
                fp->failures++;
        } else if (strcmp(st, "BIG") == 0) {
            static char big[2 << 20];
            memset(big, 'x', sizeof big);
            ssize_t ignored = write(conn, big, sizeof big);
            (void)ignored; /* ecshot stops reading at its limit and hangs up */
        } else {
            buf out = BUF_INIT;
            for (const char *p = st; *p;) {
                if (strncmp(p, "@ID", 3) == 0) {
                    buf_puts(&out, id);
                    p += 3;
                } else {
                    buf_putc(&out, *p++);
                }
            }
            if (write(conn, out.data, out.len) != (ssize_t)out.len)
                fp->failures++;
            buf_free(&out);
        }
    }
    if (fd >= 0)
        close(fd);
    close(conn);
    return NULL;
}

/* Listens on a fresh path, serves script once; *url names it. */
static void fake_peer_start(fake_peer *fp, const char *const *script, char *url, size_t size)
{
    static int serial;
    char path[128];
    snprintf(path, sizeof path, "%s/fake%d.sock", tmpdir, serial++);
    fp->srv = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, path);
    assert_int_equal(bind(fp->srv, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fp->srv, 4), 0);
    fp->script = script;
    fp->failures = 0;
    snprintf(url, size, "qmp:%s", path);
    assert_int_equal(pthread_create(&fp->thread, NULL, fake_peer_run, fp), 0);
}

static void fake_peer_finish(fake_peer *fp, const char *url)
{
    pthread_join(fp->thread, NULL);
    close(fp->srv);
    unlink(url + 4);
    assert_int_equal(fp->failures, 0);
}

#define GREETING "{\"QMP\": {\"version\": {}, \"capabilities\": []}}\r\n", "<~qmp_capabilities", \
                 "{\"return\": {}, \"id\": @ID}\r\n"

static void test_peer_events_and_stray_replies(void **state)
{
    (void)state;
    static const char *const script[] = {
        GREETING,
        "<~query-status",
        "{\"event\": \"RESUME\", \"timestamp\": {}}\n",
        "\r\n",
        "{\"return\": {\"status\": \"paused\"}, \"id\": 424242}\n",  /* not ours */
        "{\"return\": {\"status\": \"paused\"}}\n",                  /* no id */
        "{\"return\": {\"status\": \"guest-panicked\"}, \"id\": @ID}\n",
        NULL,
    };
    fake_peer fp;
    char url[160];
    fake_peer_start(&fp, script, url, sizeof url);
    console_pool *p = console_pool_new(POOL_TIMEOUT_MS);
    vm_state s = VM_RUNNING;
    assert_int_equal(console_query_state(p, url, &s), CONSOLE_OK);
    assert_int_equal(s, VM_OTHER);
    console_pool_free(p);
    fake_peer_finish(&fp, url);
}

static void test_peer_error_reply(void **state)
{
    (void)state;
    static const char *const script[] = {
        GREETING,
        "<",
        "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"no such thing\"}, \"id\": @ID}\n",
        NULL,
    };
    fake_peer fp;
    char url[160];
    fake_peer_start(&fp, script, url, sizeof url);
    console_pool *p = console_pool_new(POOL_TIMEOUT_MS);
    vm_state s;
    assert_int_equal(console_query_state(p, url, &s), CONSOLE_ERROR);
    console_pool_free(p);
    fake_peer_finish(&fp, url);
}

static void test_peer_hangs_up_mid_exchange(void **state)
{
    (void)state;
    static const char *const script[] = {GREETING, "<", "{\"return\": {\"sta", NULL};
    fake_peer fp;
    char url[160];
    fake_peer_start(&fp, script, url, sizeof url);
    console_pool *p = console_pool_new(POOL_TIMEOUT_MS);
    vm_state s;
    assert_int_equal(console_query_state(p, url, &s), CONSOLE_GONE);
    console_pool_free(p);
    fake_peer_finish(&fp, url);
}

static void test_peer_bad_streams(void **state)
{
    (void)state;
    static const char *const not_json[] = {"hello\n", NULL};
    static const char *const not_qmp[] = {"{\"hello\": 1}\n", NULL};
    static const char *const endless[] = {"BIG", NULL};
    static const char *const array[] = {GREETING, "<", "[1, 2]\n", NULL};
    static const char *const no_return[] = {GREETING, "<", "{\"id\": @ID}\n", NULL};
    static const char *const no_status[] = {GREETING, "<", "{\"return\": {}, \"id\": @ID}\n", NULL};
    static const char *const *const scripts[] = {not_json, not_qmp, endless, array, no_return,
                                                 no_status};
    for (size_t i = 0; i < sizeof scripts / sizeof scripts[0]; i++) {
        fake_peer fp;
        char url[160];
        fake_peer_start(&fp, scripts[i], url, sizeof url);
        console_pool *p = console_pool_new(POOL_TIMEOUT_MS);
        vm_state s;
        assert_int_equal(console_query_state(p, url, &s), CONSOLE_ERROR);
        console_pool_free(p);
        fake_peer_finish(&fp, url);
    }
}

/* The capture exchange against the script: the peer writes the "screen"
 * into the fd it was sent, as QEMU would. */
#define CAPTURE_START GREETING, \
    "<~query-status", "{\"return\": {\"status\": \"running\"}, \"id\": @ID}\n", \
    "<~\"opaque\":\"ecshot\"", "{\"return\": {\"fd\": 21, \"fdset-id\": 7}, \"id\": @ID}\n", \
    "<~\"filename\":\"/dev/fdset/7\",\"format\":\"ppm\""

static void test_peer_capture(void **state)
{
    (void)state;
    static const char *const script[] = {
        CAPTURE_START, "W:P6\n2 1\n255\nabcdef", "{\"return\": {}, \"id\": @ID}\n",
        "<~\"execute\":\"remove-fd\",\"id\":", "{\"return\": {}, \"id\": @ID}\n", NULL,
    };
    fake_peer fp;
    char url[160];
    fake_peer_start(&fp, script, url, sizeof url);
    console_pool *p = console_pool_new(POOL_TIMEOUT_MS);
    frame f;
    assert_int_equal(console_capture(p, url, &f), CONSOLE_OK);
    assert_int_equal(f.width, 2);
    assert_int_equal(f.height, 1);
    assert_memory_equal(f.pixels, "abcdef", 6);
    frame_release(&f);
    console_pool_free(p);
    fake_peer_finish(&fp, url);
}

static void test_peer_capture_bad_files(void **state)
{
    (void)state;
    static const char *const truncated[] = {
        CAPTURE_START, "W:P6\n2 2\n255\nabcdef", "{\"return\": {}, \"id\": @ID}\n",
        "<~remove-fd", "{\"return\": {}, \"id\": @ID}\n", NULL,
    };
    static const char *const empty[] = {
        CAPTURE_START, "{\"return\": {}, \"id\": @ID}\n",
        "<~remove-fd", "{\"return\": {}, \"id\": @ID}\n", NULL,
    };
    static const char *const huge[] = {
        CAPTURE_START, "W:P6\n8192 8192\n255\n", "T", "{\"return\": {}, \"id\": @ID}\n",
        "<~remove-fd", "{\"return\": {}, \"id\": @ID}\n", NULL,
    };
    /* screendump refused: remove-fd still follows. */
    static const char *const refused[] = {
        CAPTURE_START, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"x\"}, \"id\": @ID}\n",
        "<~remove-fd", "{\"return\": {}, \"id\": @ID}\n", NULL,
    };
    static const char *const *const scripts[] = {truncated, empty, huge, refused};
    for (size_t i = 0; i < sizeof scripts / sizeof scripts[0]; i++) {
        fake_peer fp;
        char url[160];
        fake_peer_start(&fp, scripts[i], url, sizeof url);
        console_pool *p = console_pool_new(POOL_TIMEOUT_MS);
        frame f;
        assert_int_equal(console_capture(p, url, &f), CONSOLE_ERROR);
        assert_null(f.pixels);
        console_pool_free(p);
        fake_peer_finish(&fp, url);
    }
}

/* ---- fixtures ------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/ecshot-test-qmp-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < nvms; i++)
        kill_qemu(&vms[i]);
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    return rmdir(tmpdir);
}

/* Whether any pixel is bright: SeaBIOS's text is light grey on black. */
static int has_text(const frame *f)
{
    for (int y = 0; y < f->height; y++)
        for (int x = 0; x < f->width * 3; x++)
            if (f->pixels[(size_t)y * f->pitch + (size_t)x] > 128)
                return 1;
    return 0;
}

/* Captures until SeaBIOS has switched to its 720x400 text mode and printed
 * (the first frames may still be the 640x480 of an uninitialised VGA, or
 * the text screen before its first line). */
static void capture_text_mode(console_pool *p, const char *url, frame *f)
{
    int64_t give_up = clock_monotonic_ms() + 60000;
    for (;;) {
        assert_int_equal(console_capture(p, url, f), CONSOLE_OK);
        /* SeaBIOS switches to text mode before it prints: wait for both. */
        if ((f->width == 720 && has_text(f)) || clock_monotonic_ms() > give_up)
            break;
        frame_release(f);
    }
    assert_int_equal(f->width, 720);
    assert_int_equal(f->height, 400);
    assert_int_equal(f->pitch, 720 * 3);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_url_valid(void **state)
{
    (void)state;
    assert_true(console_url_valid("qmp:/run/vm1/qmp.sock"));
    assert_true(console_url_valid("qmp:var/vm.sock"));
    assert_false(console_url_valid("qmp:"));
    assert_false(console_url_valid("QMP:/x"));
    assert_false(console_url_valid("unix:/x"));
    assert_false(console_url_valid(""));
    assert_false(console_url_valid(NULL));
    char longpath[300] = "qmp:/";
    memset(longpath + 5, 'a', 200);
    longpath[205] = '\0';
    assert_false(console_url_valid(longpath));
}

static void test_state_names(void **state)
{
    (void)state;
    assert_string_equal(vm_state_name(VM_RUNNING), "running");
    assert_string_equal(vm_state_name(VM_SUSPENDED), "suspended");
    assert_string_equal(vm_state_name(VM_INTERNAL_ERROR), "internal-error");
    assert_string_equal(vm_state_ecs_status(VM_RUNNING), "Running");
    assert_string_equal(vm_state_ecs_status(VM_PAUSED), "Running");
    assert_string_equal(vm_state_ecs_status(VM_SUSPENDED), "Running");
    assert_string_equal(vm_state_ecs_status(VM_SHUTDOWN), "Stopped");
    assert_string_equal(vm_state_ecs_status(VM_PRELAUNCH), "Starting");
    assert_string_equal(vm_state_ecs_status(VM_INMIGRATE), "Starting");
    assert_string_equal(vm_state_ecs_status(VM_INTERNAL_ERROR), "Stopped");
    assert_string_equal(vm_state_ecs_status(VM_OTHER), "Stopped");
}

static void test_running_vm(void **state)
{
    (void)state;
    vm *v = start_qemu("run", 0);
    console_pool *p = console_pool_new(POOL_TIMEOUT_MS);
    vm_state s = VM_OTHER;
    assert_int_equal(console_query_state(p, v->url, &s), CONSOLE_OK);
    assert_int_equal(s, VM_RUNNING);
    assert_int_equal(console_wake(p, v->url), CONSOLE_OK);

    frame f;
    capture_text_mode(p, v->url, &f);
    assert_true(has_text(&f));
    frame_release(&f);
    assert_null(f.pixels);

    /* Again: a fresh fd each time, so the file starts at offset 0. */
    frame g;
    assert_int_equal(console_capture(p, v->url, &g), CONSOLE_OK);
    assert_int_equal(g.width, 720);
    assert_int_equal(g.height, 400);
    assert_true(has_text(&g));

    /* The frame encodes; and QEMU kept no fd of ours. */
    jpeg_encoder *e = jpeg_encoder_new(NULL);
    const uint8_t *jpg;
    size_t len;
    assert_int_equal(jpeg_encode(e, &g, &jpg, &len), 0);
    assert_true(len > 100);
    jpeg_encoder_free(e);
    frame_release(&g);

    ops_client o;
    ops_open(&o, v);
    assert_int_equal(ops_fdset_count(&o), 0);
    ops_close(&o);

    console_pool_free(p);
    kill_qemu(v);
}

static void test_killed_vm_is_gone(void **state)
{
    (void)state;
    vm *v = start_qemu("kill", 0);
    console_pool *p = console_pool_new(POOL_TIMEOUT_MS);
    vm_state s;
    assert_int_equal(console_query_state(p, v->url, &s), CONSOLE_OK);
    kill_qemu(v);
    assert_int_equal(console_query_state(p, v->url, &s), CONSOLE_GONE);
    frame f;
    assert_int_equal(console_capture(p, v->url, &f), CONSOLE_GONE);
    frame_release(&f); /* harmless after a failure */
    assert_int_equal(console_wake(p, v->url), CONSOLE_GONE);
    console_pool_free(p);
}

static void test_restarted_vm_reconnects(void **state)
{
    (void)state;
    vm *v = start_qemu("again", 0);
    console_pool *p = console_pool_new(POOL_TIMEOUT_MS);
    vm_state s;
    assert_int_equal(console_query_state(p, v->url, &s), CONSOLE_OK);
    kill_qemu(v);
    /* A new QEMU on the same path: the pool's connection is stale and the
     * call goes through on a new one. */
    vm *w = start_qemu("again", 0);
    assert_string_equal(v->url, w->url);
    s = VM_OTHER;
    assert_int_equal(console_query_state(p, w->url, &s), CONSOLE_OK);
    assert_int_equal(s, VM_RUNNING);
    console_pool_free(p);
    kill_qemu(w);
}

static void test_prelaunch(void **state)
{
    (void)state;
    vm *v = start_qemu("pre", 1);
    console_pool *p = console_pool_new(POOL_TIMEOUT_MS);
    vm_state s = VM_OTHER;
    assert_int_equal(console_query_state(p, v->url, &s), CONSOLE_OK);
    assert_int_equal(s, VM_PRELAUNCH);

    /* QEMU shows a placeholder; two captures reuse the held fd set. */
    ops_client o;
    ops_open(&o, v);
    for (int i = 0; i < 2; i++) {
        frame f;
        assert_int_equal(console_capture(p, v->url, &f), CONSOLE_OK);
        assert_int_equal(f.width, 640);
        assert_int_equal(f.height, 480);
        frame_release(&f);
        assert_int_equal(ops_fdset_count(&o), 1);
    }

    /* Once it runs, the held set is given back. */
    json_decref(ops_cmd(&o, "{\"execute\":\"cont\"}\n"));
    assert_int_equal(console_query_state(p, v->url, &s), CONSOLE_OK);
    assert_int_equal(s, VM_RUNNING);
    frame f;
    assert_int_equal(console_capture(p, v->url, &f), CONSOLE_OK);
    frame_release(&f);
    assert_int_equal(ops_fdset_count(&o), 0);
    ops_close(&o);
    console_pool_free(p);
    kill_qemu(v);
}

static void test_paused(void **state)
{
    (void)state;
    vm *v = start_qemu("pause", 0);
    console_pool *p = console_pool_new(POOL_TIMEOUT_MS);
    frame f;
    capture_text_mode(p, v->url, &f);
    frame_release(&f);

    ops_client o;
    ops_open(&o, v);
    json_decref(ops_cmd(&o, "{\"execute\":\"stop\"}\n"));
    vm_state s = VM_OTHER;
    assert_int_equal(console_query_state(p, v->url, &s), CONSOLE_OK);
    assert_int_equal(s, VM_PAUSED);
    /* The last frame, copied out of the set the connection holds. */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(console_capture(p, v->url, &f), CONSOLE_OK);
        assert_int_equal(f.width, 720);
        assert_int_equal(f.height, 400);
        assert_true(has_text(&f));
        frame_release(&f);
    }
    assert_int_equal(ops_fdset_count(&o), 1);
    /* Waking a paused VM sends the key but leaves it paused. */
    assert_int_equal(console_wake(p, v->url), CONSOLE_OK);
    assert_int_equal(console_query_state(p, v->url, &s), CONSOLE_OK);
    assert_int_equal(s, VM_PAUSED);

    json_decref(ops_cmd(&o, "{\"execute\":\"cont\"}\n"));
    assert_int_equal(console_query_state(p, v->url, &s), CONSOLE_OK);
    assert_int_equal(s, VM_RUNNING);
    ops_close(&o);
    console_pool_free(p);
    kill_qemu(v);
}

/* A multiboot kernel (a.out kludge, loaded at 1 MiB) that puts the guest
 * into ACPI S3 at once: it writes SLP_TYP=1|SLP_EN to PIIX4's PM1a control
 * register (0x604 as SeaBIOS sets it up), then halts. Woken, the guest goes
 * through SeaBIOS again, boots the kernel again and sleeps again. */
static const uint8_t s3_kernel[] = {
    0x02, 0xb0, 0xad, 0x1b,  0x00, 0x00, 0x01, 0x00,  /* magic, flags: addresses given */
    0xfe, 0x4f, 0x51, 0xe4,                           /* checksum */
    0x00, 0x00, 0x10, 0x00,  0x00, 0x00, 0x10, 0x00,  /* header_addr, load_addr */
    0x00, 0x00, 0x00, 0x00,  0x00, 0x00, 0x00, 0x00,  /* load_end, bss_end: whole file */
    0x20, 0x00, 0x10, 0x00,                           /* entry */
    0x66, 0xba, 0x04, 0x06,                           /* mov $0x604, %dx */
    0x66, 0xb8, 0x00, 0x24,                           /* mov $0x2400, %ax */
    0x66, 0xef,                                       /* out %ax, %dx */
    0xf4, 0xeb, 0xfd,                                 /* 1: hlt; jmp 1b */
};

static void test_suspended_wakes(void **state)
{
    (void)state;
    char kernel[128];
    snprintf(kernel, sizeof kernel, "%s/s3.bin", tmpdir);
    FILE *k = fopen(kernel, "wb");
    assert_non_null(k);
    assert_int_equal(fwrite(s3_kernel, 1, sizeof s3_kernel, k), sizeof s3_kernel);
    fclose(k);
    vm *v = start_qemu_with("s3", 0, kernel);

    ops_client o;
    ops_open(&o, v);
    char st[32];
    if (strcmp(ops_status(&o, st, sizeof st), "suspended") != 0)
        ops_wait_event(&o, "SUSPEND");

    console_pool *p = console_pool_new(POOL_TIMEOUT_MS);
    vm_state s = VM_OTHER;
    assert_int_equal(console_query_state(p, v->url, &s), CONSOLE_OK);
    assert_int_equal(s, VM_SUSPENDED);
    frame f;
    assert_int_equal(console_capture(p, v->url, &f), CONSOLE_OK);
    assert_true(f.width > 0);
    frame_release(&f);
    assert_int_equal(console_wake(p, v->url), CONSOLE_OK);
    ops_wait_event(&o, "WAKEUP");

    ops_close(&o);
    console_pool_free(p);
    kill_qemu(v);
    unlink(kernel);
}

typedef struct capture_job {
    console_pool *pool;
    const char *url;
    int failures;
} capture_job;

static void *capture_many(void *arg)
{
    capture_job *j = arg;
    for (int i = 0; i < 10; i++) {
        frame f;
        if (console_capture(j->pool, j->url, &f) != CONSOLE_OK || f.width < 1)
            j->failures++;
        frame_release(&f);
    }
    return NULL;
}

static void test_concurrent_callers(void **state)
{
    (void)state;
    vm *v = start_qemu("many", 0);
    console_pool *p = console_pool_new(POOL_TIMEOUT_MS);
    capture_job jobs[3] = {{p, v->url, 0}, {p, v->url, 0}, {p, v->url, 0}};
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&t[i], NULL, capture_many, &jobs[i]), 0);
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(jobs[i].failures, 0);
    }
    console_pool_free(p);
    kill_qemu(v);
}

static void test_hung_peer_times_out(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/hung.sock", tmpdir);
    int srv = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, path);
    assert_int_equal(bind(srv, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(srv, 8), 0);

    /* The kernel completes the connection; nobody ever says a word. */
    char url[140];
    snprintf(url, sizeof url, "qmp:%s", path);
    console_pool *p = console_pool_new(300);
    vm_state s;
    assert_int_equal(console_query_state(p, url, &s), CONSOLE_TIMEOUT);
    frame f;
    assert_int_equal(console_capture(p, url, &f), CONSOLE_TIMEOUT);
    console_pool_free(p);

    /* Both calls did reach the listener. */
    int accepted = 0;
    fcntl(srv, F_SETFL, O_NONBLOCK);
    for (int c; (c = accept(srv, NULL, NULL)) >= 0; accepted++)
        close(c);
    assert_int_equal(accepted, 2);
    close(srv);
    unlink(path);
}

typedef struct query_job {
    console_pool *pool;
    const char *url;
    int result;
} query_job;

static void *query_once(void *arg)
{
    query_job *j = arg;
    vm_state s;
    j->result = console_query_state(j->pool, j->url, &s);
    return NULL;
}

/* Callers queued behind a hung VM give up at their own deadline too. */
static void test_hung_peer_queued_callers(void **state)
{
    (void)state;
    char path[128], url[140];
    snprintf(path, sizeof path, "%s/hung2.sock", tmpdir);
    snprintf(url, sizeof url, "qmp:%s", path);
    int srv = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, path);
    assert_int_equal(bind(srv, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(srv, 8), 0);
    console_pool *p = console_pool_new(300);
    query_job jobs[3] = {{p, url, 99}, {p, url, 99}, {p, url, 99}};
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&t[i], NULL, query_once, &jobs[i]), 0);
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(jobs[i].result, CONSOLE_TIMEOUT);
    }
    console_pool_free(p);
    close(srv);
    unlink(path);
}

static void test_nothing_there_is_gone(void **state)
{
    (void)state;
    char url[140], file[128];
    console_pool *p = console_pool_new(POOL_TIMEOUT_MS);
    vm_state s;
    snprintf(url, sizeof url, "qmp:%s/nobody.sock", tmpdir);
    assert_int_equal(console_query_state(p, url, &s), CONSOLE_GONE);
    /* A file that is no socket: connection refused. */
    snprintf(file, sizeof file, "%s/plain", tmpdir);
    fclose(fopen(file, "w"));
    snprintf(url, sizeof url, "qmp:%s", file);
    assert_int_equal(console_query_state(p, url, &s), CONSOLE_GONE);
    unlink(file);
    assert_int_equal(console_query_state(p, "nope:/x", &s), CONSOLE_ERROR);
    console_pool_free(p);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* the test's own client; ecshot uses MSG_NOSIGNAL */
    /* QEMU daemonizes: adopt its orphans so they are reaped, not left as
     * zombies of whatever runs as PID 1. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_valid),
        cmocka_unit_test(test_state_names),
        cmocka_unit_test(test_running_vm),
        cmocka_unit_test(test_killed_vm_is_gone),
        cmocka_unit_test(test_restarted_vm_reconnects),
        cmocka_unit_test(test_prelaunch),
        cmocka_unit_test(test_paused),
        cmocka_unit_test(test_suspended_wakes),
        cmocka_unit_test(test_concurrent_callers),
        cmocka_unit_test(test_hung_peer_times_out),
        cmocka_unit_test(test_hung_peer_queued_callers),
        cmocka_unit_test(test_nothing_there_is_gone),
        cmocka_unit_test(test_peer_events_and_stray_replies),
        cmocka_unit_test(test_peer_error_reply),
        cmocka_unit_test(test_peer_hangs_up_mid_exchange),
        cmocka_unit_test(test_peer_bad_streams),
        cmocka_unit_test(test_peer_capture),
        cmocka_unit_test(test_peer_capture_bad_files),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
