/* privileges.c: ecshotd leaves root for an unprivileged user (see sandbox.h).
 *
 * Order matters: supplementary groups and the group first (only root may
 * change them), the user last; set*res* sets real, effective and saved ids
 * alike, so nothing keeps a way back. Then the switch is verified rather
 * than trusted: every id is read back, and setuid(0) must fail. glibc
 * applies each of these calls to every thread of the process. */
#include "sandbox/sandbox.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "util/log.h"

/* Finds user by name, or by number when it is all digits. */
static int lookup_user(const char *user, uid_t *uid, gid_t *gid, char *name, size_t name_size)
{
    char buffer[4096];
    struct passwd pw, *found = NULL;
    int rc = getpwnam_r(user, &pw, buffer, sizeof buffer, &found);
    if (!found && user[0] && strspn(user, "0123456789") == strlen(user)) {
        char *end;
        errno = 0;
        unsigned long n = strtoul(user, &end, 10);
        if (!errno && n < (uid_t)-1)
            rc = getpwuid_r((uid_t)n, &pw, buffer, sizeof buffer, &found);
    }
    if (!found) {
        log_error("--user %s: no such user%s%s", user, rc ? ": " : "", rc ? strerror(rc) : "");
        return -1;
    }
    if (strlen(pw.pw_name) >= name_size) {
        log_error("--user %s: name too long", user);
        return -1;
    }
    *uid = pw.pw_uid;
    *gid = pw.pw_gid;
    strcpy(name, pw.pw_name);
    return 0;
}

/* 1 when every id is the wanted one and root is out of reach. */
static int dropped_for_good(uid_t uid, gid_t gid)
{
    uid_t ru, eu, su;
    gid_t rg, eg, sg;
    if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0)
        return 0;
    if (ru != uid || eu != uid || su != uid || rg != gid || eg != gid || sg != gid)
        return 0;
    if (getuid() != uid || geteuid() != uid)
        return 0;
    /* The proof: going back must fail. */
    if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
        return 0;
    return 1;
}

int sandbox_drop_privileges(const char *user)
{
    uid_t uid;
    gid_t gid;
    char name[256];
    if (lookup_user(user, &uid, &gid, name, sizeof name) < 0)
        return -1;
    if (uid == 0) {
        log_error("--user %s: is root; name an unprivileged user", user);
        return -1;
    }
    if (geteuid() != 0) {
        /* Not root: only staying who we are is possible. */
        if (getuid() == uid && geteuid() == uid)
            return 0;
        log_error("--user %s: only root can switch users (running as uid %u)", user,
                  (unsigned)geteuid());
        return -1;
    }
    if (initgroups(name, gid) < 0) {
        log_error("--user %s: initgroups: %s", user, strerror(errno));
        return -1;
    }
    if (setresgid(gid, gid, gid) < 0) {
        log_error("--user %s: setresgid: %s", user, strerror(errno));
        return -1;
    }
    if (setresuid(uid, uid, uid) < 0) {
        log_error("--user %s: setresuid: %s", user, strerror(errno));
        return -1;
    }
    if (!dropped_for_good(uid, gid)) {
        log_error("--user %s: root could be regained; refusing to run", user);
        return -1;
    }
    log_info("running as %s (uid %u, gid %u)", name, (unsigned)uid, (unsigned)gid);
    return 0;
}
