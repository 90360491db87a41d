/* backends.h: the console backends console.c chooses from (internal).
 *
 * Each backend lives in a file of its own and exports its driver and a
 * check of the URL part after its scheme; console.c lists them in one table.
 * Adding a backend is a new file, its two declarations here and one line in
 * that table. A backend whose library is big and that many deployments do
 * not use (libvirt) is built as a module instead, loaded the first time a
 * console URL needs it (module.c): its check stays linked in. */
#ifndef ECSHOT_CONSOLE_BACKENDS_H
#define ECSHOT_CONSOLE_BACKENDS_H

#include "console/console.h"

/* "qmp:PATH": QEMU's QMP on a unix socket (qmp.c). */
extern const console_driver qmp_driver;
int qmp_target_valid(const char *target);

/* "libvirt:URI#DOMAIN": a domain through libvirt, one connection per URI
 * (libvirt.c, the module ecshot-libvirt; the URL check in libvirt_target.c). */
#define LIBVIRT_MODULE "ecshot-libvirt"
#define LIBVIRT_DRIVER_SYMBOL "libvirt_driver"
#define LIBVIRT_NAME_MAX 1024 /* bytes of a domain name */
int libvirt_target_valid(const char *target);

/* A symbol of a backend module, loaded on first use (module.c): NULL, and
 * logged, when the module cannot be loaded. */
const void *console_module_symbol(const char *module, const char *symbol);

#endif
