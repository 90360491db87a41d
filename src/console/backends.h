/* backends.h: the console backends console.c chooses from (internal).
 *
 * Each backend lives in a file of its own and exports its driver and a
 * check of the URL part after its scheme; console.c lists them in one table.
 * Adding a backend is a new file, its two declarations here and one line in
 * that table. */
#ifndef ECSHOT_CONSOLE_BACKENDS_H
#define ECSHOT_CONSOLE_BACKENDS_H

#include "console/console.h"

/* "qmp:PATH": QEMU's QMP on a unix socket (qmp.c). */
extern const console_driver qmp_driver;
int qmp_target_valid(const char *target);

/* "libvirt:URI#DOMAIN": a domain through libvirt, one connection per URI (libvirt.c). */
extern const console_driver libvirt_driver;
int libvirt_target_valid(const char *target);

#endif
