/* cli.h - small helpers shared by the apicsim subcommands. */
#ifndef APICSIM_CLI_H
#define APICSIM_CLI_H

#include <stdint.h>

/* Exit statuses shared by every command: 1 the work found a failure (an
   expectation, a damaged trace part way), 2 the user's input cannot be used
   at all: the command line, or a scenario or trace that is missing or not
   one. */
enum { CLI_FAILED = 1, CLI_BAD_INPUT = 2 };

/* Prints "apicsim CMD: message" and a hint to stderr; returns 2. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Decimal or 0x hex, whole string, <= max; 0 on success. */
int cli_number(const char *s, uint64_t max, uint64_t *out);

int cmd_trace(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_list_programs(int argc, char **argv);

#endif
