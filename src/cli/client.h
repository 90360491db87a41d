/* client.h: `ecshot screenshot`, the signing client. */
#ifndef ECSHOT_CLI_CLIENT_H
#define ECSHOT_CLI_CLIENT_H

/* argv[0] is "screenshot". Returns the process exit status. */
int client_screenshot_main(int argc, char **argv);

#endif
