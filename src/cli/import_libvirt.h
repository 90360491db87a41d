/* import_libvirt.h: `ecshot instance import-libvirt URI` (import_libvirt.c).
 *
 * Registers the domains of a libvirt host as instances, from an element
 * each domain carries in its <metadata>:
 *
 *   <ecshot:instance xmlns:ecshot="https://ecshot.dev/xmlns/1"
 *       id="i-..." region="cn-hangzhou" account="1234567890123456"
 *       type="ecs.g7.large" [status="Running"]>
 *     <ecshot:tag key="KEY">VALUE</ecshot:tag>...
 *   </ecshot:instance>
 *
 * The console URL of each is "libvirt:URI#DOMAIN-NAME". */
#ifndef ECSHOT_CLI_IMPORT_LIBVIRT_H
#define ECSHOT_CLI_IMPORT_LIBVIRT_H

/* The namespace of the metadata element, as virDomainGetMetadata takes it. */
#define ECSHOT_LIBVIRT_XMLNS "https://ecshot.dev/xmlns/1"

/* Runs the command on the store at store_url; argv holds what follows
 * "instance import-libvirt" (the URI). Returns the process exit status as
 * admin_main does: 0, 1 when the command failed, 2 when it was given
 * wrongly; on failure one line "ecshot: ..." has gone to stderr. */
int cmd_instance_import_libvirt(const char *store_url, int argc, char **argv);

#endif
