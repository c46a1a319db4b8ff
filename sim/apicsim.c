/*
 * apicsim.c - the apicsim command: one entry point, a subcommand each.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "apicsim/apicsim.h"
#include "cli.h"

int cli_usage(const char *cmd, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "apicsim %s: ", cmd);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\n(see 'apicsim %s --help')\n", cmd);
  return CLI_BAD_INPUT;
}

int cli_number(const char *s, uint64_t max, uint64_t *out) {
  if (!s || !*s || *s == '-' || *s == '+') return -1;
  errno = 0;
  char *end;
  unsigned long long v = strtoull(s, &end, 0);
  if (errno || *end || v > max) return -1;
  *out = v;
  return 0;
}

static const char help[] =
    "apicsim - cycle-level emulator of the x86 interrupt architecture\n"
    "\n"
    "usage: apicsim COMMAND [ARGS]\n"
    "  run SCENARIO.json [-o TRACE] [--seed N] [--cycles N]\n"
    "                             run a scenario, check its expectations\n"
    "  check SCENARIO.json        validate a scenario without running it\n"
    "  list-programs              the built-in guest programs and their arguments\n"
    "  trace dump FILE            one event a line, with filters\n"
    "  trace stats FILE           deliveries, coalescing, latencies, bus use\n"
    "  trace export --format perfetto|json|vcd FILE -o OUT\n"
    "  version                    print the library version\n"
    "\n"
    "'apicsim COMMAND --help' describes each command.\n"
    "Exit status: 0 success, 1 the work found a failure (an expectation, a damaged\n"
    "trace), 2 the command line is wrong or an input file is missing or invalid.\n";

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(help, stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
    fputs(help, stdout);
    return 0;
  }
  if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
    printf("apicsim %s\n", apic_version());
    return 0;
  }
  if (!strcmp(cmd, "trace")) return cmd_trace(argc - 2, argv + 2);
  if (!strcmp(cmd, "run")) return cmd_run(argc - 2, argv + 2);
  if (!strcmp(cmd, "check")) return cmd_check(argc - 2, argv + 2);
  if (!strcmp(cmd, "list-programs")) return cmd_list_programs(argc - 2, argv + 2);
  fprintf(stderr, "apicsim: unknown command '%s'\n\n%s", cmd, help);
  return 2;
}
