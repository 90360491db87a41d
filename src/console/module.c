/* module.c: console backends built as modules, loaded on first use.
 *
 * libvirt brings some thirty libraries with it (GLib, libssh, libnl, ...),
 * 3 to 4 MB of resident pages and that much more code in the daemon's
 * address space, for deployments that may never name a libvirt: console.
 * So its backend is a shared module (ecshot-libvirt.so) that the first
 * libvirt: console loads. The module uses ecshot's own functions (log,
 * image decoding) from the executable, which exports them.
 *
 * Where modules come from: the installed module directory; and, only for
 * an executable that itself runs from its build tree (tests, the demo,
 * the benchmark), the build tree's. An installed daemon never loads code
 * from a path outside its installation. A module that cannot be loaded is
 * logged once and its consoles fail (CONSOLE_ERROR) without a retry per
 * request. */
#include "console/backends.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

#define MODULES_MAX 4

typedef struct loaded {
    const char *module;  /* static strings */
    const char *symbol;
    const void *value;   /* NULL: failed, and stays failed */
} loaded;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static loaded table[MODULES_MAX];
static size_t table_n;

/* 1 when this executable lives under the build tree it was built in. */
static int running_from_build_tree(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return 0;
    exe[n] = '\0';
    size_t root = strlen(ECSHOT_BUILD_ROOT);
    return strncmp(exe, ECSHOT_BUILD_ROOT, root) == 0 && exe[root] == '/';
}

static const void *load(const char *module, const char *symbol)
{
    const char *dirs[] = {ECSHOT_MODULEDIR, running_from_build_tree() ? ECSHOT_BUILD_MODULEDIR : NULL};
    char path[PATH_MAX], why[PATH_MAX + 512] = "not found";
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        if (!dirs[i])
            continue;
        snprintf(path, sizeof path, "%s/%s.so", dirs[i], module);
        if (access(path, R_OK) != 0)
            continue;
        void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!handle) {
            snprintf(why, sizeof why, "%.*s", PATH_MAX, dlerror());
            continue;
        }
        const void *value = dlsym(handle, symbol);
        if (value) {
            log_info("console: loaded %s", path);
            return value; /* never unloaded */
        }
        snprintf(why, sizeof why, "%s has no %.200s", path, symbol);
        dlclose(handle);
    }
    log_error("console: cannot load the module %s (looked in %s): %s", module, ECSHOT_MODULEDIR,
              why);
    return NULL;
}

const void *console_module_symbol(const char *module, const char *symbol)
{
    pthread_mutex_lock(&lock);
    const void *value = NULL;
    size_t i = 0;
    while (i < table_n && !(strcmp(table[i].module, module) == 0 &&
                            strcmp(table[i].symbol, symbol) == 0))
        i++;
    if (i < table_n) {
        value = table[i].value;
    } else {
        value = load(module, symbol);
        if (table_n < MODULES_MAX)
            table[table_n++] = (loaded){module, symbol, value};
    }
    pthread_mutex_unlock(&lock);
    return value;
}
