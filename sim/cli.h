/* cli.h - small helpers shared by the apicsim subcommands. */
#ifndef APICSIM_CLI_H
#define APICSIM_CLI_H

#include <stdint.h>

/* Prints "apicsim CMD: message" and a hint to stderr; returns 2. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Decimal or 0x hex, whole string, <= max; 0 on success. */
int cli_number(const char *s, uint64_t max, uint64_t *out);

int cmd_trace(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_list_programs(int argc, char **argv);

#endif
