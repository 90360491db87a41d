/* qmpcmd.c: send a few argument-less QMP commands to a VM from a shell script.
 *
 *   ecshot-qmpcmd SOCKET_PATH COMMAND...
 *
 * The benchmarks pause their fixture VMs once the picture is drawn (`stop`:
 * a paused VM keeps its framebuffer and costs no CPU), and bash cannot talk
 * to a unix socket. Negotiates capabilities, runs each COMMAND in turn and
 * waits for its reply; events in between are skipped. Exit status 0 when
 * every command returned, 1 otherwise (QEMU's error on stderr). Each reply
 * must come within 10 s. */
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define QMPCMD_TIMEOUT_MS 10000

typedef struct session {
    int fd;
    char in[65536];
    size_t len;
} session;

/* Reads one JSON message (QMP sends one per line) into *msg. */
static int next_message(session *s, json_t **msg)
{
    *msg = NULL;
    for (;;) {
        char *nl = memchr(s->in, '\n', s->len);
        if (nl) {
            size_t line = (size_t)(nl - s->in) + 1;
            *msg = json_loadb(s->in, line, 0, NULL);
            memmove(s->in, s->in + line, s->len - line);
            s->len -= line;
            return *msg ? 0 : -1;
        }
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        if (s->len == sizeof s->in || poll(&p, 1, QMPCMD_TIMEOUT_MS) != 1)
            return -1;
        ssize_t n = read(s->fd, s->in + s->len, sizeof s->in - s->len);
        if (n <= 0)
            return -1;
        s->len += (size_t)n;
    }
}

/* Sends {"execute": command} and waits for its return or error. */
static int run(session *s, const char *command)
{
    char line[256];
    int n = snprintf(line, sizeof line, "{\"execute\": \"%s\"}\n", command);
    if (n < 0 || (size_t)n >= sizeof line || write(s->fd, line, (size_t)n) != n)
        return -1;
    for (;;) {
        json_t *msg;
        if (next_message(s, &msg) < 0) {
            fprintf(stderr, "ecshot-qmpcmd: %s: no reply\n", command);
            return -1;
        }
        int returned = json_object_get(msg, "return") != NULL;
        json_t *error = json_object_get(msg, "error");
        if (error)
            fprintf(stderr, "ecshot-qmpcmd: %s: %s\n", command,
                    json_string_value(json_object_get(error, "desc")));
        json_decref(msg);
        if (returned || error)
            return returned ? 0 : -1;
    }
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: ecshot-qmpcmd SOCKET_PATH COMMAND...\n");
        return 2;
    }
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(argv[1]) >= sizeof addr.sun_path) {
        fprintf(stderr, "ecshot-qmpcmd: socket path too long\n");
        return 2;
    }
    strcpy(addr.sun_path, argv[1]);
    session s = {.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    if (s.fd < 0 || connect(s.fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        fprintf(stderr, "ecshot-qmpcmd: cannot connect to %s\n", argv[1]);
        return 1;
    }
    json_t *greeting = NULL;
    int r = next_message(&s, &greeting);
    json_decref(greeting);
    if (r == 0)
        r = run(&s, "qmp_capabilities");
    for (int i = 2; r == 0 && i < argc; i++)
        r = run(&s, argv[i]);
    close(s.fd);
    return r == 0 ? 0 : 1;
}
