/*
 * test_scenario.c - JSON scenarios (apicsim/scenario.h, examples/README.md).
 *
 *   malformed_*     every malformed scenario is refused with APIC_E_ARG and a
 *                   message "SOURCE: JSON.PATH: reason", never a crash (also
 *                   run under the sanitizer build);
 *   valid_*, expect_*  valid scenarios parse into the machine they describe,
 *                   run, and each expectation kind passes or fails as it
 *                   should, with a readable expected/got;
 *   deterministic_* the same scenario run twice gives identical results and
 *                   byte-identical traces; the seed changes a seeded program.
 *
 * Scenario texts are written with ' for " (q() swaps them), to stay readable.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include "testutil.h"
#include "apicsim/scenario.h"
#include "apicsim/trace.h"

#define SRC "t.json"

/* A copy of s with every ' turned into ". */
static char *q(const char *s) {
  size_t n = strlen(s);
  char *o = malloc(n + 1);
  ck_assert_ptr_nonnull(o);
  for (size_t i = 0; i <= n; i++) o[i] = s[i] == '\'' ? '"' : s[i];
  return o;
}

/* Parses text (len bytes); returns the rc, *sc and the message in why. */
static int parse_n(const char *text, size_t len, apic_scenario **sc, char *why, size_t n) {
  *sc = (apic_scenario *)(uintptr_t)1;  /* must be reset by the parser */
  return apic_scenario_parse(sc, text, len, SRC, why, n);
}

/* Asserts that text (len bytes) is refused at path (NULL: any), with word in
   the reason. */
static void refused_n(const char *text, size_t len, const char *path, const char *word) {
  apic_scenario *sc;
  char why[1024], prefix[512];
  int rc = parse_n(text, len, &sc, why, sizeof why);
  ck_assert_msg(rc == APIC_E_ARG, "accepted (rc %d): %.300s", rc, text);
  ck_assert_ptr_null(sc);
  snprintf(prefix, sizeof prefix, path ? SRC ": %s: " : SRC ": ", path ? path : "");
  ck_assert_msg(!strncmp(why, prefix, strlen(prefix)),
                "message \"%s\" does not start with \"%s\" for %.300s", why, prefix, text);
  ck_assert_msg(strstr(why + strlen(prefix), word) != NULL,
                "message \"%s\" does not say \"%s\" for %.300s", why, word, text);
}

/* ---- (a) malformed scenarios ---- */

#define M "'machine': {'cpus': 4}"
#define PROG(prog, cpus, args) \
  "{" M ", 'programs': [{'program': '" prog "', 'cpus': " cpus ", 'args': {" args "}}]}"
#define STIM(entry) "{" M ", 'stimulus': [" entry "]}"
#define EXPECT(body) "{" M ", 'expect': {" body "}}"
#define MACH(body) "{'machine': {" body "}}"
#define MASK "'targets': [1]"

typedef struct bad_case {
  const char *json;   /* ' for " */
  const char *path;   /* the JSON path the message must name */
  const char *word;   /* a word of the explanation */
} bad_case;

static const bad_case bad[] = {
  /* not a scenario at all, or not JSON */
  {"[]", "(top level)", "expected an object, found an array"},
  {"42", "(top level)", "expected an object, found a number"},
  {"'just a string'", "(top level)", "expected an object, found a string"},
  {"null", "(top level)", "expected an object"},
  {"{'machine': {'cpus': 4}", "(top level)", "invalid JSON at line 1, column 23"},
  {"{'machine': {'cpus': 4,}}", "(top level)", "invalid JSON at line 1"},
  {"{'name': 'a\\qb', " M "}", "(top level)", "invalid JSON"},
  {"{" M ", 'programs': [1 2]}", "(top level)", "invalid JSON"},
  {"{'machine':\n {'cpus':\n 4,,}}", "(top level)", "line 3"},
  {"{'machine': {'cpus': 4}, 'run': {'cycles': 1e}}", "(top level)", "invalid JSON"},
  {"{'machine': {'cpus': 4}, 'name': 'unterminated}", "(top level)", "invalid JSON"},
  {"{}", "(top level)", "\"machine\" is required"},
  /* top level */
  {"{'colour': 1, " M "}", "colour", "unknown field"},
  {"{'name': 5, " M "}", "name", "expected a name"},
  {"{'description': [], " M "}", "description", "expected a string"},
  /* machine */
  {"{'machine': []}", "machine", "expected an object, found an array"},
  {"{'machine': {}}", "machine", "machine.cpus is required"},
  {MACH("'cpus': 'four'"), "machine.cpus", "expected a whole number"},
  {MACH("'cpus': 0"), "machine.cpus", "0 is outside 1..65536"},
  {MACH("'cpus': 70000"), "machine.cpus", "70000 is outside 1..65536"},
  {MACH("'cpus': 4.5"), "machine.cpus", "whole number"},
  {MACH("'cpus': -3"), "machine.cpus", "whole number"},
  {MACH("'cpus': true"), "machine.cpus", "found a boolean"},
  {MACH("'cpus': 1e400"), "machine.cpus", "whole number"},
  {MACH("'cpus': '0x'"), "machine.cpus", "whole number"},
  {MACH("'cpus': 4, 'colour': 'red'"), "machine.colour", "unknown field (allowed here: cpus|"},
  {MACH("'cpus': 4, 'model': 'p5'"), "machine.model", "expected one of p6|xapic"},
  {MACH("'cpus': 300, 'model': 'p6'"), "machine", "P6"},
  {MACH("'cpus': 256, 'x2apic': false"), "machine", "xAPIC"},
  {MACH("'cpus': 4, 'bus': 'p6'"), "machine", "p6 bus"},
  {MACH("'cpus': 4, 'bus': 'mesh', 'sockets': 3"), "machine", "sockets"},
  {MACH("'cpus': 4, 'bus': 'token-ring'"), "machine.bus", "p6|xapic|mesh"},
  {MACH("'cpus': 4, 'threads_per_core': 65"), "machine.threads_per_core", "outside 1..64"},
  {MACH("'cpus': 4, 'freq_ghz': 'fast'"), "machine.freq_ghz", "expected a number"},
  {MACH("'cpus': 4, 'x2apic': 'yes'"), "machine.x2apic", "expected true or false"},
  {MACH("'cpus': 4, 'apic_ids': [0, 1]"), "machine.apic_ids", "array of 4 APIC IDs"},
  {MACH("'cpus': 4, 'apic_ids': [0, 1, 'x', 3]"), "machine.apic_ids[2]", "whole number"},
  {MACH("'cpus': 4, 'ioapics': {}"), "machine.ioapics", "expected an array"},
  {MACH("'cpus': 4, 'ioapics': [{'pins': 121}]"), "machine.ioapics[0].pins", "outside 1..120"},
  {MACH("'cpus': 4, 'ioapics': [{'version': '0x12'}]"), "machine.ioapics[0].version", "0x11"},
  {MACH("'cpus': 4, 'ioapics': [{'pins': 24, 'colour': 1}]"), "machine.ioapics[0].colour",
   "unknown field"},
  {MACH("'cpus': 4, 'ioapics': [{}, {}, {}, {}, {}, {}, {}, {}, {}]"), "machine.ioapics",
   "at most"},
  {MACH("'cpus': 4, 'ioapics': [7]"), "machine.ioapics[0]", "expected an object"},
  {MACH("'cpus': 4, 'timing': []"), "machine.timing", "expected an object"},
  {MACH("'cpus': 4, 'timing': {'warp': 1}"), "machine.timing.warp", "unknown timing field"},
  {MACH("'cpus': 4, 'timing': {'p6_clock_div': 0}"), "machine.timing.p6_clock_div",
   "outside 1.."},
  {MACH("'cpus': 4, 'timing': {'insn': [[[[1]]]]}"), "machine.timing.insn", "found an array"},
  {MACH("'cpus': 4, 'quirks': {'foo': true}"), "machine.quirks.foo", "unknown field"},
  {MACH("'cpus': 4, 'quirks': {'logical_ff_all': 1}"), "machine.quirks.logical_ff_all",
   "true or false"},
  {MACH("'cpus': 4, 'extint_vector': 256"), "machine.extint_vector", "outside 0..255"},
  /* programs */
  {"{" M ", 'programs': {}}", "programs", "expected an array of programs"},
  {"{" M ", 'programs': [5]}", "programs[0]", "expected an object"},
  {"{" M ", 'programs': [{'cpus': [0]}]}", "programs[0]", "\"program\" is required"},
  {"{" M ", 'programs': [{'program': 7, 'cpus': [0]}]}", "programs[0].program",
   "expected a program name"},
  {PROG("linux_send_ipi_maks", "[0]", MASK), "programs[0].program", "unknown program"},
  {"{" M ", 'programs': [{'program': 'idle'}]}", "programs[0]", "\"cpus\" is required"},
  {PROG("linux_send_ipi_mask", "'9'", MASK), "programs[0].cpus", "core 9 does not exist"},
  {PROG("linux_send_ipi_mask", "[0, 0]", MASK), "programs[0].cpus[1]", "listed twice"},
  {PROG("linux_send_ipi_mask", "'3-1'", MASK), "programs[0].cpus", "expected a core list"},
  {PROG("linux_send_ipi_mask", "[]", MASK), "programs[0].cpus", "empty"},
  {PROG("linux_send_ipi_mask", "{}", MASK), "programs[0].cpus", "expected a core list"},
  {PROG("linux_send_ipi_mask", "[0, 1, 2, 3, 0]", MASK), "programs[0].cpus", "5 cores listed"},
  {"{" M ", 'programs': [{'program': 'idle', 'cpus': '0-1'}, {'program': 'idle', "
   "'cpus': [1]}]}", "programs[1].cpus", "core 1 already runs another program"},
  /* two programs handling one vector on core 1: the second would take the first's IPIs */
  {"{" M ", 'programs': [{'program': 'linux_send_ipi_mask', 'cpus': [0], 'args': {'targets': "
   "[1]}}, {'program': 'linux_send_ipi_allbutself', 'cpus': [2], 'args': {'vector': 251}}]}",
   "programs[1].args", "vector 0xfb on cpu 0 is already handled by programs[0]"},
  {"{" M ", 'programs': [{'program': 'idle', 'cpus': [0], 'colour': 1}]}",
   "programs[0].colour", "unknown field"},
  {PROG("linux_send_ipi_mask", "[0]", MASK ", 'colour': 1"), "programs[0].args.colour",
   "no such argument (it takes: targets, vector"},
  {PROG("idle", "[0]", "'x': 1"), "programs[0].args.x", "takes: none"},
  {PROG("linux_send_ipi_mask", "[0]", MASK ", 'vector': 5"), "programs[0].args.vector",
   "5 is outside 16..255"},
  {PROG("linux_send_ipi_mask", "[0]", MASK ", 'vector': 'abc'"), "programs[0].args.vector",
   "expected a whole number (decimal or 0x hex), found \"abc\""},
  {PROG("linux_send_ipi_mask", "[0]", "'vector': 251"), "programs[0]", "targets"},
  {PROG("linux_send_ipi_mask", "[0]", MASK ", 'dest_mode': 'cluster'"),
   "programs[0].args.dest_mode", "physical|logical"},
  {PROG("linux_send_ipi_mask", "[0]", MASK ", 'rounds': 0"), "programs[0].args.rounds",
   "outside 1..1000000"},
  {PROG("linux_send_ipi_mask", "[0]", "'targets': [7]"), "programs[0].args.targets[0]",
   "outside 0..3"},
  {PROG("linux_send_ipi_mask", "[0]", "'targets': true"), "programs[0].args.targets",
   "core list"},
  {PROG("tlb_shootdown_scoreboard", "'all'", "'shorthand': 1"), "programs[0].args.shorthand",
   "true or false"},
  {PROG("timer_tick", "[0]", "'bug': 'sometimes'"), "programs[0].args.bug", "none|no_eoi"},
  {PROG("timer_tick", "[0]", "'mode': 3"), "programs[0].args.mode", "found a number"},
  {PROG("mailbox_call_function", "'all'", "'rounds': 1000001"), "programs[0].args.rounds",
   "outside"},
  {"{" M ", 'programs': [{'program': 'idle', 'cpus': [0], 'args': []}]}", "programs[0].args",
   "expected an object"},
  /* stimulus */
  {"{" M ", 'stimulus': {}}", "stimulus", "expected an array of stimulus entries"},
  {STIM("7"), "stimulus[0]", "expected an object"},
  {STIM("{'pin': 24, 'level': 1}"), "stimulus[0].pin", "24 is outside 0..23"},
  {STIM("{'ioapic': 1, 'pin': 2, 'level': 1}"), "stimulus[0].ioapic", "outside 0..0"},
  {"{'machine': {'cpus': 4, 'ioapics': []}, 'stimulus': [{'pin': 2, 'level': 1}]}",
   "stimulus[0]", "no I/O APIC"},
  {STIM("{'level': 1}"), "stimulus[0]", "\"pin\" is required"},
  {STIM("{'count': 3, 'pin': 2, 'level': 1}"), "stimulus[0]", "\"count\" needs \"every\""},
  {STIM("{'every': 10, 'pin': 2, 'level': 1}"), "stimulus[0]", "\"every\" needs \"count\""},
  {STIM("{'every': 1, 'count': 100000000, 'pin': 2, 'pulse': 1}"), "stimulus[0].count",
   "outside 1..10000000"},
  {STIM("{'every': 0, 'count': 1, 'pin': 2, 'pulse': 1}"), "stimulus[0].every", "outside 1.."},
  {STIM("{'every': 10, 'count': 2, 'pin': 2, 'pulse': 10}"), "stimulus[0]", "does not fit"},
  {STIM("{'pin': 2, 'level': 1, 'pulse': 5}"), "stimulus[0]", "one only"},
  {STIM("{'pin': 2, 'level': 2}"), "stimulus[0].level", "outside 0..1"},
  {STIM("{'at': -5, 'pin': 2, 'level': 1}"), "stimulus[0].at", "whole number"},
  {STIM("{'at': 5}"), "stimulus[0]", "each entry does one thing"},
  {STIM("{'pin': 2, 'level': 1, 'rte': {'pin': 2, 'vector': 48}}"), "stimulus[0]",
   "one thing"},
  {STIM("{'pin': 2, 'level': 1, 'colour': 1}"), "stimulus[0].colour", "unknown field"},
  {STIM("{'rte': {'pin': 2, 'vector': 5}}"), "stimulus[0].rte.vector", "outside 16..255"},
  {STIM("{'rte': {'pin': 2}}"), "stimulus[0].rte", "\"vector\" is required"},
  {STIM("{'rte': {'pin': 2, 'vector': 48, 'delivery': 'broadcast'}}"),
   "stimulus[0].rte.delivery", "fixed|lowest|smi|nmi|init|extint"},
  {STIM("{'rte': {'pin': 2, 'vector': 48, 'dest': 256}}"), "stimulus[0].rte.dest",
   "outside 0..255"},
  {STIM("{'rte': {'pin': 30, 'vector': 48}}"), "stimulus[0].rte.pin", "outside 0..23"},
  {STIM("{'rte': {'pin': 2, 'vector': 48, 'level': 1}}"), "stimulus[0].rte.level",
   "unknown field"},
  {STIM("{'write': {'cpu': 0, 'reg': 'FOO', 'value': 1}}"), "stimulus[0].write.reg",
   "no local APIC register called \"FOO\""},
  {STIM("{'write': {'cpu': 0, 'reg': 'ISR8', 'value': 1}}"), "stimulus[0].write.reg",
   "no local APIC register"},
  {STIM("{'write': {'cpu': 0, 'reg': 1, 'value': 1}}"), "stimulus[0].write.reg",
   "register name"},
  {STIM("{'write': {'cpu': 4, 'reg': 'TPR', 'value': 1}}"), "stimulus[0].write.cpu",
   "outside 0..3"},
  {STIM("{'write': {'cpu': 0, 'value': 1}}"), "stimulus[0].write", "\"reg\" is required"},
  {STIM("{'write': {'reg': 'TPR', 'value': 1}}"), "stimulus[0].write", "\"cpu\" is required"},
  {STIM("{'write': {'cpu': 0, 'reg': 'TPR', 'value': '0x100000000'}}"),
   "stimulus[0].write.value", "outside"},
  {STIM("{'every': 5, 'count': 2, 'write': {'cpu': 0, 'reg': 'TPR', 'value': 1}}"),
   "stimulus[0]", "pin levels and pulses only"},
  {STIM("{'wrmsr': {'cpu': 0, 'msr': '0x808'}}"), "stimulus[0].wrmsr", "\"value\" is required"},
  {STIM("{'write': {'cpu': 0, 'reg': 'TPR', 'value': 1, 'msr': 2}}"), "stimulus[0].write.msr",
   "unknown field (allowed here: cpu|reg|value)"},
  {STIM("{'wrmsr': 5}"), "stimulus[0].wrmsr", "expected an object"},
  {STIM("{'wrmsr': {'cpu': 0, 'msr': '0x1_0', 'value': 0}}"), "stimulus[0].wrmsr.msr",
   "whole number"},
  {STIM("{'wrmsr': {'cpu': 0, 'reg': 'TPR', 'value': 0}}"), "stimulus[0].wrmsr.reg",
   "unknown field"},
  /* run */
  {"{" M ", 'run': []}", "run", "expected an object"},
  {"{" M ", 'run': {'until': 'forever'}}", "run.until", "cycles|done"},
  {"{" M ", 'run': {'cycles': 0}}", "run.cycles", "outside 1.."},
  {"{" M ", 'run': {'cycles': '0x4000000000000001'}}", "run.cycles", "outside"},
  {"{" M ", 'run': {'speed': 2}}", "run.speed", "unknown field (allowed here: cycles|until|seed)"},
  {"{" M ", 'run': {'seed': -1}}", "run.seed", "whole number"},
  /* expect */
  {"{" M ", 'expect': []}", "expect", "expected an object"},
  {EXPECT("'colour': 1"), "expect.colour", "unknown field"},
  {EXPECT("'programs': 1"), "expect.programs", "true or false"},
  {EXPECT("'no_esr_errors': 'yes'"), "expect.no_esr_errors", "true or false"},
  {EXPECT("'no_lost_interrupts': null"), "expect.no_lost_interrupts", "found null"},
  {EXPECT("'handlers': {}"), "expect.handlers", "expected an array"},
  {EXPECT("'handlers': [3]"), "expect.handlers[0]", "expected an object"},
  {EXPECT("'handlers': [{'cpu': 1}]"), "expect.handlers[0]", "\"count\""},
  {EXPECT("'handlers': [{'count': 1}]"), "expect.handlers[0]", "\"cpu\" is required"},
  {EXPECT("'handlers': [{'cpu': 1, 'count': 1, 'vector': 256}]"), "expect.handlers[0].vector",
   "outside 0..255"},
  {EXPECT("'handlers': [{'cpu': 1, 'min': 5, 'max': 2}]"), "expect.handlers[0]",
   "\"min\" 5 is above \"max\" 2"},
  {EXPECT("'handlers': [{'cpu': 'all', 'count': 'many'}]"), "expect.handlers[0].count",
   "expected a whole number (decimal or 0x hex), found \"many\""},
  {EXPECT("'handlers': [{'cpu': 1, 'count': 1, 'colour': 1}]"), "expect.handlers[0].colour",
   "unknown field"},
  {EXPECT("'handlers': [{'cpu': 1, 'count': 1, 'first': 'a'}]"), "expect.handlers[0].first",
   "unknown field"},
  {EXPECT("'registers': [{'cpu': 0, 'reg': 'TPRX', 'value': 0}]"), "expect.registers[0].reg",
   "no local APIC register"},
  {EXPECT("'registers': [{'cpu': 0, 'reg': 'TPR'}]"), "expect.registers[0]", "required"},
  {EXPECT("'order': [{'first': 'a'}]"), "expect.order[0]", "marker names"},
  {EXPECT("'order': [{'first': 'a', 'then': 'b', 'colour': 1}]"), "expect.order[0].colour",
   "unknown field (allowed here: first|then)"},
  {EXPECT("'latency': [{'stage': 'irr', 'max': 1, 'count': 2}]"), "expect.latency[0].count",
   "unknown field"},
  {EXPECT("'registers': [{'cpu': 0, 'reg': 'TPR', 'value': 0, 'vector': 1}]"),
   "expect.registers[0].vector", "unknown field"},
  {EXPECT("'order': [{'first': '', 'then': 'b'}]"), "expect.order[0]", "marker names"},
  {EXPECT("'latency': [{'stage': 'wake', 'max': 1}]"), "expect.latency[0].stage", "irr|handler"},
  {EXPECT("'latency': [{'stage': 'irr'}]"), "expect.latency[0]", "at least one bound"},
  {EXPECT("'latency': [{'stage': 'irr', 'cpu': [9], 'max': 1}]"), "expect.latency[0].cpu[0]",
   "outside 0..3"},
  {EXPECT("'coalesced': {}"), "expect.coalesced", "\"min\" and/or \"max\""},
  {EXPECT("'coalesced': 3"), "expect.coalesced", "expected an object"},
  {EXPECT("'deliveries': {'min': 1, 'most': 2}"), "expect.deliveries.most", "unknown field"},
};

START_TEST(malformed_refused_with_path) {
  char *text = q(bad[_i].json);
  refused_n(text, strlen(text), bad[_i].path, bad[_i].word);
  free(text);
}
END_TEST

/* Empty input, whitespace only, and NUL bytes where JSON cannot have them. */
START_TEST(malformed_empty_and_nul) {
  refused_n("", 0, "(top level)", "the text is empty");
  refused_n("   \n\t ", 6, "(top level)", "invalid JSON");
  refused_n("\0\0\0\0", 4, "(top level)", "invalid JSON");
  refused_n("{\0}", 3, NULL, "");  /* see known_bug_nul_as_whitespace */
  static const char mid[] = "{\"machine\": {\"cpus\": 4\0\0\"x\": 1}}";
  refused_n(mid, sizeof mid - 1, "(top level)", "invalid JSON");
  static const char key[] = "{\"mach\0ine\": {\"cpus\": 4}}";
  refused_n(key, sizeof key - 1, NULL, "");  /* see known_bug_nul_in_string_accepted */
  /* len stops inside the text: the rest is not read */
  refused_n("{\"machine\": {\"cpus\": 4}}", 10, "(top level)", "invalid JSON");
}
END_TEST

/* A 20 MiB scenario is refused for its size, in memory and as a file. */
START_TEST(malformed_too_big) {
  size_t n = 20u << 20;
  char *big = malloc(n);
  ck_assert_ptr_nonnull(big);
  memset(big, ' ', n);
  memcpy(big, "{\"machine\": {\"cpus\": 4}}", 24);
  refused_n(big, n, "(top level)", "a scenario is at most 16777216 bytes");

  char path[] = "/tmp/apicsim-test-scenario-XXXXXX";
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  FILE *f = fdopen(fd, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(big, 1, n, f), n);
  fclose(f);
  free(big);
  apic_scenario *sc = NULL;
  char why[512];
  ck_assert_int_eq(apic_scenario_load(&sc, path, why, sizeof why), APIC_E_ARG);
  ck_assert_ptr_null(sc);
  ck_assert_msg(strstr(why, path) && strstr(why, "at most"), "%s", why);
  unlink(path);
  ck_assert_int_eq(apic_scenario_load(&sc, path, why, sizeof why), APIC_E_IO);
  ck_assert_msg(strstr(why, "cannot open"), "%s", why);
  /* a directory opens but does not read: an I/O error, not a parse error */
  ck_assert_int_eq(apic_scenario_load(&sc, ".", why, sizeof why), APIC_E_IO);
  ck_assert_ptr_null(sc);
}
END_TEST

/* Counts beyond the limits: refused for the count. */
static void refused_repeat(const char *head, const char *item, size_t count, const char *tail,
                           const char *path, const char *word) {
  size_t hl = strlen(head), il = strlen(item), tl = strlen(tail);
  char *s = malloc(hl + count * (il + 1) + tl + 1);
  ck_assert_ptr_nonnull(s);
  char *p = s;
  memcpy(p, head, hl);
  p += hl;
  for (size_t i = 0; i < count; i++) {
    if (i) *p++ = ',';
    memcpy(p, item, il);
    p += il;
  }
  memcpy(p, tail, tl + 1);
  refused_n(s, strlen(s), path, word);
  free(s);
}

START_TEST(malformed_too_many) {
  refused_repeat("{\"machine\": {\"cpus\": 4}, \"programs\": [", "{}", 1025, "]}",
                 "programs", "1025 programs; at most 1024");
  refused_repeat("{\"machine\": {\"cpus\": 4}, \"stimulus\": [", "{}", 100001, "]}",
                 "stimulus", "at most 100000");
  refused_repeat("{\"machine\": {\"cpus\": 4}, \"expect\": {\"handlers\": [",
                 "{\"cpu\": 0, \"count\": 1}", 10001, "]}}", "expect.handlers",
                 "more than 10000 expectations");
  refused_repeat("{\"machine\": {\"cpus\": 2, \"apic_ids\": [", "1", 3, "]}}",
                 "machine.apic_ids", "array of 2 APIC IDs");
}
END_TEST

/* Deep nesting is refused, not a stack overflow. */
START_TEST(malformed_deeply_nested) {
  size_t depth = 200000, n = 2 * depth + 64;
  char *s = malloc(n);
  ck_assert_ptr_nonnull(s);
  memset(s, '[', depth);
  memset(s + depth, ']', depth);
  refused_n(s, 2 * depth, "(top level)", "invalid JSON");
  /* the same inside a field, and junk nested below the parser's limit */
  size_t k = (size_t)snprintf(s, n, "{\"machine\": ");
  memset(s + k, '{', depth);
  refused_n(s, k + depth, "(top level)", "invalid JSON");
  k = (size_t)snprintf(s, n, "{\"machine\": ");
  for (int i = 0; i < 500; i++) s[k++] = '[';
  for (int i = 0; i < 500; i++) s[k++] = ']';
  s[k++] = '}';
  refused_n(s, k, "machine", "expected an object, found an array");
  free(s);
}
END_TEST

/* A key longer than the path buffer: refused, message truncated, no overflow. */
START_TEST(malformed_long_names) {
  char s[4096];
  int k = snprintf(s, sizeof s, "{\"machine\": {\"cpus\": 4, \"");
  memset(s + k, 'k', 2000);
  snprintf(s + k + 2000, sizeof s - (size_t)k - 2000, "\": 1}}");
  apic_scenario *sc;
  char why[1024];
  ck_assert_int_eq(parse_n(s, strlen(s), &sc, why, sizeof why), APIC_E_ARG);
  ck_assert_ptr_null(sc);
  ck_assert_msg(strstr(why, SRC ": machine.kkkk"), "%s", why);
  /* a program name and a marker name of any length */
  char big[4096], name[1500];
  memset(name, 'p', sizeof name - 1);
  name[sizeof name - 1] = 0;
  snprintf(big, sizeof big, "{\"machine\": {\"cpus\": 4}, \"programs\": [{\"program\": "
           "\"%s\", \"cpus\": [0]}]}", name);
  refused_n(big, strlen(big), "programs[0].program", "unknown program");
  snprintf(big, sizeof big, "{\"machine\": {\"cpus\": 4}, \"expect\": {\"order\": "
           "[{\"first\": \"%s\", \"then\": \"b\"}]}}", name);
  refused_n(big, strlen(big), "expect.order[0]", "1..63 characters");
}
END_TEST

/* Small or absent message buffers, NULL arguments. */
START_TEST(malformed_small_buffers) {
  const char *text = "{\"machine\": {\"cpus\": 0}}";
  apic_scenario *sc;
  char why[16];
  memset(why, 'x', sizeof why);
  ck_assert_int_eq(parse_n(text, strlen(text), &sc, why, sizeof why), APIC_E_ARG);
  ck_assert_uint_eq(strlen(why), sizeof why - 1);
  ck_assert_int_eq(parse_n(text, strlen(text), &sc, NULL, 0), APIC_E_ARG);
  ck_assert_ptr_null(sc);
  char w2[256];
  ck_assert_int_eq(apic_scenario_parse(NULL, text, strlen(text), SRC, w2, sizeof w2),
                   APIC_E_ARG);
  ck_assert_int_eq(apic_scenario_parse(&sc, NULL, 3, SRC, w2, sizeof w2), APIC_E_ARG);
  /* no source: the message still names the path */
  ck_assert_int_eq(apic_scenario_parse(&sc, text, strlen(text), NULL, w2, sizeof w2),
                   APIC_E_ARG);
  ck_assert_msg(strstr(w2, "machine.cpus: 0 is outside"), "%s", w2);
  apic_scenario_free(NULL);
  apic_scenario_result_free(NULL);
  ck_assert_str_eq(apic_scenario_name(NULL), "");
  ck_assert_ptr_null(apic_scenario_config(NULL));
  apic_scenario_result res;
  ck_assert_int_eq(apic_scenario_run(NULL, NULL, &res, w2, sizeof w2), APIC_E_ARG);
}
END_TEST

/* Random damage to a valid scenario: every result is a scenario or a clean
   refusal with a message, never a crash (the sanitizer build checks memory). */
START_TEST(malformed_random_damage) {
  char *base = q("{'name': 'fuzz', 'machine': {'cpus': 8, 'bus': 'xapic', 'ioapics': "
                 "[{'pins': 24}]}, 'programs': [{'program': 'linux_send_ipi_mask', "
                 "'cpus': [0], 'args': {'targets': '1-3', 'vector': '0xfb', 'rounds': 2}}, "
                 "{'program': 'device_irq', 'cpus': [4, 5], 'args': {'pin': 9, "
                 "'dest_mode': 'logical', 'dest': [4, 5]}}], 'stimulus': [{'at': 10, "
                 "'write': {'cpu': 6, 'reg': 'TPR', 'value': 32}}, {'at': 20, 'every': 100, "
                 "'count': 3, 'pin': 3, 'pulse': 10}], 'run': {'cycles': 5000, 'until': "
                 "'done'}, 'expect': {'handlers': [{'cpu': '1-3', 'vector': 251, 'count': "
                 "2}], 'order': [{'first': 'a', 'then': 'b'}], 'latency': [{'stage': "
                 "'irr', 'max': 5000}], 'coalesced': {'max': 9}}}");
  size_t n = strlen(base);
  apic_scenario *sc;
  char why[1024];
  ck_assert_int_eq(parse_n(base, n, &sc, why, sizeof why), APIC_OK);
  apic_scenario_free(sc);
  static const char junk[] = "{}[]\",:0123456789-.exfalsnu\\ \n\0\x80\xff'";
  char *buf = malloc(n + 8);
  ck_assert_ptr_nonnull(buf);
  uint64_t x = 0x5EED;
  unsigned accepted = 0;
  for (int round = 0; round < 3000; round++) {
    memcpy(buf, base, n);
    size_t len = n;
    int edits = 1 + round % 4;
    for (int e = 0; e < edits && len > 1; e++) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      size_t at = (size_t)(x >> 33) % len;
      switch ((x >> 20) % 4) {
      case 0: buf[at] = junk[(x >> 8) % (sizeof junk - 1)]; break;   /* replace */
      case 1: len = at + 1; break;                                    /* truncate */
      case 2: memmove(buf + at, buf + at + 1, len - at - 1); len--; break;  /* delete */
      default: buf[at] = (char)(buf[at] + 1); break;                  /* nudge */
      }
    }
    memset(why, 0, sizeof why);
    int rc = parse_n(buf, len, &sc, why, sizeof why);
    if (rc == APIC_OK) {
      accepted++;
      ck_assert_ptr_nonnull(sc);
      apic_scenario_free(sc);
    } else {
      ck_assert_int_eq(rc, APIC_E_ARG);
      ck_assert_ptr_null(sc);
      ck_assert_msg(!strncmp(why, SRC ": ", strlen(SRC) + 2) && strlen(why) > 10, "%s", why);
    }
  }
  ck_assert_uint_lt(accepted, 3000);
  free(buf);
  free(base);
}
END_TEST

/* ---- (b) valid scenarios and expectations ---- */

static apic_scenario *parse_ok(const char *text_q) {
  char *text = q(text_q);
  apic_scenario *sc = NULL;
  char why[1024];
  int rc = parse_n(text, strlen(text), &sc, why, sizeof why);
  ck_assert_msg(rc == APIC_OK, "refused: %s", why);
  free(text);
  return sc;
}

static void run_ok(apic_scenario *sc, const apic_scenario_opts *o, apic_scenario_result *res) {
  char why[1024];
  int rc = apic_scenario_run(sc, o, res, why, sizeof why);
  ck_assert_msg(rc == APIC_OK, "run failed: %s", why);
}

/* The result whose `what` starts with prefix; fails the test if none. */
static const apic_expect_result *find_result(const apic_scenario_result *res,
                                             const char *prefix) {
  for (unsigned i = 0; i < res->nexpect; i++)
    if (!strncmp(res->expect[i].what, prefix, strlen(prefix))) return &res->expect[i];
  ck_abort_msg("no expectation result \"%s\"", prefix);
  return NULL;
}

/* Asserts that an expectation failed (or passed) and says what it should. */
static void result_is(const apic_scenario_result *res, const char *prefix, int pass,
                      const char *expected, const char *got) {
  const apic_expect_result *x = find_result(res, prefix);
  ck_assert_msg(x->pass == pass, "%s: pass %d, want %d (expected %s, got %s)", x->what,
                x->pass, pass, x->expected, x->got);
  ck_assert_msg(strstr(x->expected, expected), "%s: expected \"%s\" lacks \"%s\"", x->what,
                x->expected, expected);
  ck_assert_msg(strstr(x->got, got), "%s: got \"%s\" lacks \"%s\"", x->what, x->got, got);
}

/* Every value form of examples/README.md reaches the machine. */
START_TEST(valid_values_reach_the_machine) {
  apic_scenario *sc = parse_ok(
      "{'name': 'forms', 'description': 'd', 'machine': {'cpus': '0x10', 'bus': 'mesh', "
      "'sockets': 2, 'threads_per_core': 2, 'freq_ghz': 2.5, 'x2apic': true, "
      "'apic_ids': [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23], "
      "'ioapics': [{'pins': 24, 'version': 17, 'id': 3}, {'pins': '120', 'version': '0x20'}], "
      "'extint_vector': '0x28', 'timing': {'insn': 2, 'xapic_latency': '0x100'}, "
      "'quirks': {'logical_ff_all': false, 'timer_masked_hold': true}}, "
      "'programs': [{'program': 'linux_send_ipi_mask', 'cpus': 0, 'args': {'targets': '1-3', "
      "'vector': '0xfb', 'dest_mode': 'physical'}}, {'program': 'idle', 'cpus': [4, 6, 5]}], "
      "'run': {'cycles': '100000', 'until': 'done', 'seed': 99}, "
      "'expect': {'programs': false}}");
  ck_assert_str_eq(apic_scenario_name(sc), "forms");
  const apic_config *c = apic_scenario_config(sc);
  ck_assert_uint_eq(c->ncpus, 16);
  ck_assert_int_eq(c->bus, APIC_BUS_MESH);
  ck_assert_int_eq(c->model, APIC_MODEL_XAPIC);
  ck_assert_uint_eq(c->x2apic, 1);
  ck_assert_uint_eq(c->sockets, 2);
  ck_assert_uint_eq(c->threads_per_core, 2);
  ck_assert(c->freq_ghz == 2.5);
  ck_assert_uint_eq(c->apic_ids[8], 16);
  ck_assert_uint_eq(c->nioapics, 2);
  ck_assert_uint_eq(c->ioapic_pins[1], 120);
  ck_assert_uint_eq(c->ioapic_version[0], 0x11);
  ck_assert_uint_eq(c->ioapic_version[1], 0x20);
  ck_assert_uint_eq(c->ioapic_id[0], 3);
  ck_assert_uint_eq(c->extint_vector, 0x28);
  ck_assert_uint_eq(c->timing.insn, 2);
  ck_assert_uint_eq(c->timing.xapic_latency, 0x100);
  ck_assert_uint_eq(c->quirks.logical_ff_all, 0);
  ck_assert_uint_eq(c->quirks.timer_masked_hold, 1);
  ck_assert_uint_eq(c->seed, 99);
  apic_scenario_result res;
  run_ok(sc, NULL, &res);
  ck_assert_uint_eq(res.nexpect, 0);  /* programs: false, nothing else asked */
  ck_assert_uint_eq(res.stats.handlers, 3);
  apic_scenario_result_free(&res);
  apic_scenario_free(sc);

  /* the smallest scenario, and the P6 defaults */
  sc = parse_ok("{'machine': {'cpus': 1}}");
  ck_assert_str_eq(apic_scenario_name(sc), "");
  ck_assert_int_eq(apic_scenario_config(sc)->bus, APIC_BUS_XAPIC);
  apic_scenario_free(sc);
  sc = parse_ok("{'machine': {'cpus': 15, 'model': 'p6'}}");
  ck_assert_int_eq(apic_scenario_config(sc)->bus, APIC_BUS_P6);
  ck_assert_uint_eq(apic_scenario_config(sc)->x2apic, 0);
  apic_scenario_free(sc);
  sc = parse_ok("{'machine': {'cpus': 300}}");
  ck_assert_uint_eq(apic_scenario_config(sc)->x2apic, 1);
  apic_scenario_free(sc);
}
END_TEST

/* A correct run: every expectation holds, each says what it checked. */
START_TEST(expect_all_pass) {
  apic_scenario *sc = parse_ok(
      "{'name': 'pass', 'machine': {'cpus': 6}, 'programs': [{'program': "
      "'linux_send_ipi_mask', 'cpus': [0], 'args': {'targets': [1, 2], 'rounds': 4, "
      "'interval': 3000}}], 'run': {'cycles': 2000000, 'until': 'done'}, "
      "'expect': {'handlers': [{'cpu': '1-2', 'vector': '0xfb', 'count': 4}, "
      "{'cpu': '3-5', 'max': 0}, {'cpu': [1], 'min': 1, 'max': 9}], "
      "'registers': [{'cpu': 'all', 'reg': 'TPR', 'value': 0}, {'cpu': 1, 'reg': 'SVR', "
      "'value': '0x100', 'mask': '0x100'}], "
      "'latency': [{'stage': 'irr', 'cpu': [1, 2], 'vector': 251, 'max': 5000, 'p99': 5000, "
      "'median': 5000}, {'stage': 'handler', 'max': 9000}], "
      "'no_esr_errors': true, 'no_lost_interrupts': true, 'coalesced': {'max': 0}, "
      "'deliveries': {'min': 8, 'max': 8}}}");
  apic_scenario_result res;
  run_ok(sc, NULL, &res);
  ck_assert_uint_eq(res.nexpect, 12);
  ck_assert_uint_eq(res.failed, 0);
  ck_assert_uint_eq(res.messages, 8);
  ck_assert_uint_eq(res.irr.count, 8);
  ck_assert_uint_eq(res.handler.count, 8);
  ck_assert_int_eq(res.run_status, APIC_RUN_IDLE);
  ck_assert_int_eq(res.all_done, 1);  /* until: done, and it was: why the run stopped */
  result_is(&res, "expect.programs: programs[0] (linux_send_ipi_mask)", 1,
            "no violation, all work done", "no violation");
  result_is(&res, "expect.handlers[0]", 1, "4 on each of 2 cores", "all in range");
  result_is(&res, "expect.handlers[1]", 1, "at most 0 on each of 3 cores", "all in range");
  result_is(&res, "expect.handlers[2]", 1, "1..9", "all in range");
  result_is(&res, "expect.registers[1]", 1, "0x100", "as expected");
  result_is(&res, "expect.latency[0]", 1, "median <= 5000", "over 4");
  result_is(&res, "expect.deliveries", 1, "8", "8");
  apic_scenario_result_free(&res);
  ck_assert_uint_eq(res.nexpect, 0);
  apic_scenario_free(sc);
}
END_TEST

/* Every expectation kind but programs fails here, each with its expected/got:
   an illegal vector (ESR), a vector left pending behind TPR 0xf0. */
START_TEST(expect_each_kind_fails) {
  apic_scenario *sc = parse_ok(
      "{'machine': {'cpus': 2}, 'stimulus': ["
      "{'at': 1000, 'write': {'cpu': 0, 'reg': 'ICR_LO', 'value': '0x4005'}}, "
      "{'at': 1000, 'write': {'cpu': 1, 'reg': 'TPR', 'value': '0xf0'}}, "
      "{'at': 2000, 'write': {'cpu': 0, 'reg': 'ICR_HI', 'value': '0x01000000'}}, "
      "{'at': 2000, 'write': {'cpu': 0, 'reg': 'ICR_LO', 'value': '0x40'}}], "
      "'run': {'cycles': 10000}, 'expect': {'no_esr_errors': true, "
      "'no_lost_interrupts': true, 'registers': [{'cpu': 1, 'reg': 'TPR', 'value': '0x10'}], "
      "'handlers': [{'cpu': 1, 'count': 1}, {'cpu': [0, 1], 'vector': 64, 'min': 2}], "
      "'coalesced': {'min': 1}, 'deliveries': {'max': 0}, "
      "'latency': [{'stage': 'irr', 'max': 1}, {'stage': 'handler', 'cpu': 1, 'max': 100}], "
      "'order': [{'first': 'a', 'then': 'b'}]}}");
  apic_scenario_result res;
  run_ok(sc, NULL, &res);
  ck_assert_uint_eq(res.nexpect, 10);
  ck_assert_uint_eq(res.failed, 10);
  ck_assert_uint_eq(res.end_cycle, 10000);
  result_is(&res, "expect.handlers[0]", 0, "1 on each of 1 cores", "cpu 1: 0");
  result_is(&res, "expect.handlers[1]", 0, "at least 2 on each of 2 cores", "cpu 0: 0");
  ck_assert(strstr(find_result(&res, "expect.handlers[1]")->what, "vector 0x40"));
  result_is(&res, "expect.registers[0]", 0, "0x10 on each of 1 cores", "cpu 1: 0xf0");
  ck_assert(strstr(find_result(&res, "expect.registers[0]")->what, "TPR"));
  result_is(&res, "expect.order[0]", 0, "last \"a\" < first \"b\"", "marker \"a\" never seen");
  result_is(&res, "expect.latency[0]", 0, "max <= 1", "median 730, p99 730, max 730 over 1");
  result_is(&res, "expect.latency[1]", 0, "max <= 100", "no deliveries measured");
  result_is(&res, "expect.no_esr_errors", 0, "0 errors", "1");
  result_is(&res, "expect.no_lost_interrupts", 0, "every IRR empty",
            "cpu 1 still has vectors pending in IRR");
  result_is(&res, "expect.coalesced", 0, "at least 1", "0");
  result_is(&res, "expect.deliveries", 0, "at most 0", "1");
  apic_scenario_result_free(&res);
  apic_scenario_free(sc);
}
END_TEST

/* The programs expectation: a bug fails it, a short run is "not done". */
START_TEST(expect_programs_fails) {
  apic_scenario *sc = parse_ok(
      "{'machine': {'cpus': 2, 'x2apic': true}, 'programs': [{'program': 'timer_tick', "
      "'cpus': [0], 'args': {'mode': 'deadline', 'period': 5000, 'ticks': 5, 'bug': "
      "'no_eoi'}}, {'program': 'idle', 'cpus': [1]}], 'run': {'cycles': 100000, "
      "'until': 'done'}}");
  apic_scenario_result res;
  run_ok(sc, NULL, &res);
  ck_assert_uint_eq(res.nexpect, 2);
  ck_assert_uint_eq(res.failed, 1);
  result_is(&res, "expect.programs: programs[0] (timer_tick)", 0,
            "no violation, all work done", "not done");
  ck_assert(strstr(res.expect[0].got, "1 of 5 ticks"));
  result_is(&res, "expect.programs: programs[1] (idle)", 1, "no violation", "no violation");
  apic_scenario_result_free(&res);
  apic_scenario_free(sc);

  /* correct, but the cycle limit comes first: not done */
  sc = parse_ok("{'machine': {'cpus': 2}, 'programs': [{'program': 'timer_tick', 'cpus': "
                "[0], 'args': {'period': 16000, 'ticks': 50}}], 'run': {'cycles': 100000, "
                "'until': 'done'}}");
  run_ok(sc, NULL, &res);
  result_is(&res, "expect.programs", 0, "all work done", "no violation, but not done");
  ck_assert_int_eq(res.all_done, 0);
  ck_assert_uint_eq(res.end_cycle, 100000);
  apic_scenario_result_free(&res);
  /* without until: done, unfinished work is no failure */
  apic_scenario_free(sc);
  sc = parse_ok("{'machine': {'cpus': 2}, 'programs': [{'program': 'timer_tick', 'cpus': "
                "[0], 'args': {'period': 16000, 'ticks': 50}}], 'run': {'cycles': 100000}}");
  run_ok(sc, NULL, &res);
  result_is(&res, "expect.programs", 1, "no violation", "no violation");
  apic_scenario_result_free(&res);
  apic_scenario_free(sc);
}
END_TEST

/* order: markers seen in the wrong order fail with both cycles. */
START_TEST(expect_order_fails_with_cycles) {
  apic_scenario *sc = parse_ok(
      "{'machine': {'cpus': 4}, 'programs': [{'program': 'ipi_generic_call_barrier', "
      "'cpus': 'all', 'args': {'rounds': 2}}], 'run': {'cycles': 2000000, 'until': 'done'}, "
      "'expect': {'order': [{'first': 'phase1', 'then': 'phase2'}, "
      "{'first': 'phase2', 'then': 'phase1'}]}}");
  apic_scenario_result res;
  run_ok(sc, NULL, &res);
  ck_assert_uint_eq(res.failed, 2);
  /* two calls: the second call's phase 1 follows the first call's phase 2 */
  result_is(&res, "expect.order[0]", 0, "last \"phase1\" < first \"phase2\"",
            "last \"phase1\" at cycle ");
  result_is(&res, "expect.order[1]", 0, "last \"phase2\" < first \"phase1\"", ", first ");
  result_is(&res, "expect.programs", 1, "no violation", "2 of 2 calls");
  apic_scenario_result_free(&res);
  apic_scenario_free(sc);
}
END_TEST

/* Scenarios that parse but cannot be installed say so at run time. */
START_TEST(run_refuses_uninstallable) {
  /* what a program checks against the machine is found by the parser too
     (a trial install), so `apicsim check` says it with the JSON path */
  static const char *const cases[][2] = {
    {"{'machine': {'cpus': 4}, 'programs': [{'program': 'device_irq', 'cpus': [1], "
     "'args': {'ioapic': 1}}]}", "programs[0].args: device_irq: ioapic 1"},
    {"{'machine': {'cpus': 4}, 'programs': [{'program': 'ipi_generic_call_barrier', "
     "'cpus': '0-2'}]}", "use ipi mask"},
    {"{'machine': {'cpus': 4}, 'programs': [{'program': 'tlb_shootdown_scoreboard', "
     "'cpus': '0-1', 'args': {'initiators': 3}}]}", "initiators is 3"},
    {"{'machine': {'cpus': 4, 'x2apic': true}, 'programs': [{'program': "
     "'nt_hal_request_ipi', 'cpus': [0], 'args': {'targets': [1]}}]}", "x2APIC"},
    {"{'machine': {'cpus': 4, 'model': 'p6'}, 'programs': [{'program': 'timer_tick', "
     "'cpus': [0], 'args': {'mode': 'deadline'}}]}", "no TSC-deadline"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    apic_scenario *sc = NULL;
    char why[1024];
    char *t = q(cases[i][0]);
    int rc = parse_n(t, strlen(t), &sc, why, sizeof why);
    free(t);
    ck_assert_msg(rc == APIC_E_ARG, "case %zu: rc %d", i, rc);
    ck_assert_ptr_null(sc);
    ck_assert_msg(strstr(why, "programs[0].args"), "case %zu: \"%s\" has no path", i, why);
    ck_assert_msg(strstr(why, cases[i][1]), "case %zu: \"%s\" lacks \"%s\"", i, why,
                  cases[i][1]);
  }
}
END_TEST

/* opts.cycles overrides run.cycles; a stimulus beyond the end never happens. */
/* examples/README.md machine.logical_ids (SDM 10.6.2.2): the LDRs are set
   before the run, so a logical I/O APIC destination reaches exactly the
   cores whose logical ID bits it names, in the flat and the cluster model. */
START_TEST(machine_logical_ids) {
  static const char *const texts[] = {
    "{'machine': {'cpus': 4, 'logical_ids': [1, 2, 4, 8]}, 'stimulus': ["
    "{'at': 10, 'rte': {'pin': 3, 'vector': '0x40', 'dest_mode': 'logical', 'dest': '0x06'}},"
    "{'at': 20, 'pin': 3, 'pulse': 10}], 'run': {'cycles': 20000}, 'expect': {'handlers': ["
    "{'cpu': [1, 2], 'vector': '0x40', 'count': 1}, {'cpu': [0, 3], 'count': 0}]}}",
    "{'machine': {'cpus': 4, 'dfr': 'cluster', 'logical_ids': ['0x11', '0x12', '0x21', '0x22']},"
    " 'stimulus': [{'at': 10, 'rte': {'pin': 3, 'vector': '0x40', 'dest_mode': 'logical',"
    " 'dest': '0x23'}}, {'at': 20, 'pin': 3, 'pulse': 10}], 'run': {'cycles': 20000},"
    " 'expect': {'handlers': [{'cpu': [2, 3], 'vector': '0x40', 'count': 1},"
    " {'cpu': [0, 1], 'count': 0}]}}",
  };
  for (size_t i = 0; i < 2; i++) {
    apic_scenario *sc = parse_ok(texts[i]);
    apic_scenario_result res;
    char why[512];
    ck_assert_int_eq(apic_scenario_run(sc, NULL, &res, why, sizeof why), APIC_OK);
    ck_assert_msg(res.nexpect == 2 && res.failed == 0, "case %zu: %u of %u failed", i,
                  res.failed, res.nexpect);
    apic_scenario_result_free(&res);
    apic_scenario_free(sc);
  }
}
END_TEST

START_TEST(run_cycles_override) {
  apic_scenario *sc = parse_ok(
      "{'machine': {'cpus': 2}, 'stimulus': [{'at': 0, 'rte': {'pin': 3, 'vector': 48, "
      "'dest': 1}}, {'at': 1000, 'every': 10000, 'count': 10, 'pin': 3, 'pulse': 100}], "
      "'run': {'cycles': 1000000}, 'expect': {'handlers': [{'cpu': 1, 'vector': 48, "
      "'count': 10}]}}");
  apic_scenario_result res;
  run_ok(sc, NULL, &res);
  ck_assert_uint_eq(res.failed, 0);
  ck_assert_uint_eq(res.end_cycle, 1000000);
  apic_scenario_result_free(&res);
  apic_scenario_opts o = {0};
  o.cycles_set = 1;
  o.cycles = 25000;  /* pulses at 1000, 11000, 21000 only */
  run_ok(sc, &o, &res);
  ck_assert_uint_eq(res.end_cycle, 25000);
  result_is(&res, "expect.handlers[0]", 0, "10 on each of 1 cores", "cpu 1: 3");
  apic_scenario_result_free(&res);
  apic_scenario_free(sc);
}
END_TEST

/* ---- (c) determinism, (d) the seed ---- */

static const char mailbox_q[] =
    "{'name': 'det', 'machine': {'cpus': 8}, 'programs': [{'program': "
    "'mailbox_call_function', 'cpus': 'all', 'args': {'targets': '6-7', 'senders': 6, "
    "'rounds': 30, 'interval': 500}}], 'run': {'cycles': 3000000, 'until': 'done', "
    "'seed': 7}, 'expect': {'coalesced': {'min': 1}, 'latency': [{'stage': 'handler', "
    "'max': 1000000}], 'no_lost_interrupts': true}}";

static char *read_all(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  size_t cap = 1 << 16, len = 0;
  char *b = malloc(cap);
  ck_assert_ptr_nonnull(b);
  size_t got;
  while ((got = fread(b + len, 1, cap - len, f)) > 0) {
    len += got;
    if (len == cap) {
      cap *= 2;
      b = realloc(b, cap);
      ck_assert_ptr_nonnull(b);
    }
  }
  fclose(f);
  *n = len;
  return b;
}

static void temp_path(char *out, size_t n) {
  snprintf(out, n, "/tmp/apicsim-test-scenario-XXXXXX");
  int fd = mkstemp(out);
  ck_assert_int_ge(fd, 0);
  close(fd);
}

static void same_results(const apic_scenario_result *a, const apic_scenario_result *b) {
  ck_assert_uint_eq(a->end_cycle, b->end_cycle);
  ck_assert_int_eq(a->run_status, b->run_status);
  ck_assert_uint_eq(a->messages, b->messages);
  ck_assert_uint_eq(a->stats.events, b->stats.events);
  ck_assert_uint_eq(a->stats.deliveries, b->stats.deliveries);
  ck_assert_uint_eq(a->stats.coalesced, b->stats.coalesced);
  ck_assert_uint_eq(a->stats.handlers, b->stats.handlers);
  ck_assert(!memcmp(&a->irr, &b->irr, sizeof a->irr));
  ck_assert(!memcmp(&a->handler, &b->handler, sizeof a->handler));
  ck_assert_uint_eq(a->nexpect, b->nexpect);
  ck_assert_uint_eq(a->failed, b->failed);
  for (unsigned i = 0; i < a->nexpect; i++) {
    ck_assert_str_eq(a->expect[i].what, b->expect[i].what);
    ck_assert_str_eq(a->expect[i].expected, b->expect[i].expected);
    ck_assert_str_eq(a->expect[i].got, b->expect[i].got);
    ck_assert_int_eq(a->expect[i].pass, b->expect[i].pass);
  }
}

/* Twice the same scenario (the same parsed object, and a second parse):
   identical results, byte-identical traces. */
START_TEST(deterministic_runs_and_traces) {
  apic_scenario *sc = parse_ok(mailbox_q), *sc2 = parse_ok(mailbox_q);
  char t1[64], t2[64], t3[64];
  temp_path(t1, sizeof t1);
  temp_path(t2, sizeof t2);
  temp_path(t3, sizeof t3);
  apic_scenario_opts o = {0};
  apic_scenario_result r1, r2, r3;
  o.trace_path = t1;
  run_ok(sc, &o, &r1);
  o.trace_path = t2;
  run_ok(sc, &o, &r2);
  o.trace_path = t3;
  run_ok(sc2, &o, &r3);
  ck_assert_uint_eq(r1.failed, 0);
  ck_assert_uint_gt(r1.stats.coalesced, 0);
  same_results(&r1, &r2);
  same_results(&r1, &r3);
  size_t n1, n2, n3;
  char *b1 = read_all(t1, &n1), *b2 = read_all(t2, &n2), *b3 = read_all(t3, &n3);
  ck_assert_uint_gt(n1, 100);
  ck_assert_uint_eq(n1, n2);
  ck_assert_uint_eq(n1, n3);
  ck_assert(!memcmp(b1, b2, n1));
  ck_assert(!memcmp(b1, b3, n1));
  /* without a trace, the same results again */
  apic_scenario_result r4;
  run_ok(sc, NULL, &r4);
  same_results(&r1, &r4);
  free(b1);
  free(b2);
  free(b3);
  unlink(t1);
  unlink(t2);
  unlink(t3);
  apic_scenario_result_free(&r1);
  apic_scenario_result_free(&r2);
  apic_scenario_result_free(&r3);
  apic_scenario_result_free(&r4);
  apic_scenario_free(sc);
  apic_scenario_free(sc2);
}
END_TEST

/* --seed (opts.seed) changes a seeded program's run; the scenario's own seed
   is the same as passing it. */
START_TEST(deterministic_seed_changes_run) {
  apic_scenario *sc = parse_ok(mailbox_q);
  apic_scenario_opts o = {0};
  apic_scenario_result own, same, r[4];
  run_ok(sc, NULL, &own);
  o.seed_set = 1;
  o.seed = 7;
  run_ok(sc, &o, &same);
  same_results(&own, &same);
  unsigned differ = 0;
  for (int i = 0; i < 4; i++) {
    o.seed = 100 + (uint64_t)i;
    run_ok(sc, &o, &r[i]);
    ck_assert_uint_eq(r[i].failed, 0);  /* correct whatever the seed */
    differ += r[i].stats.events != own.stats.events ||
              r[i].stats.deliveries != own.stats.deliveries ||
              r[i].stats.coalesced != own.stats.coalesced || r[i].end_cycle != own.end_cycle ||
              strcmp(r[i].expect[0].got, own.expect[0].got) != 0;
  }
  ck_assert_msg(differ == 4, "only %u of 4 other seeds changed the run", differ);
  ck_assert(r[0].stats.events != r[1].stats.events || r[0].stats.coalesced != r[1].stats.coalesced ||
            strcmp(r[0].expect[0].got, r[1].expect[0].got) != 0);
  for (int i = 0; i < 4; i++) apic_scenario_result_free(&r[i]);
  apic_scenario_result_free(&own);
  apic_scenario_result_free(&same);
  apic_scenario_free(sc);
}
END_TEST

/* scenario.h nskipped: stimulus timed after the run's end is said, not
   dropped without a word; the first one is named. */
START_TEST(run_counts_stimulus_never_applied) {
  apic_scenario *sc = parse_ok(
      "{'machine': {'cpus': 2}, 'stimulus': ["
      "{'at': 100, 'write': {'cpu': 1, 'reg': 'TPR', 'value': 16}}, "
      "{'at': 1000, 'write': {'cpu': 1, 'reg': 'TPR', 'value': 32}}, "
      "{'at': 5000, 'write': {'cpu': 1, 'reg': 'TPR', 'value': 48}}, "
      "{'at': 900, 'write': {'cpu': 1, 'reg': 'TPR', 'value': 64}}], "
      "'run': {'cycles': 1000}}");
  apic_scenario_opts o = {0};
  apic_scenario_result res;
  run_ok(sc, &o, &res);
  ck_assert_uint_eq(res.nskipped, 1);  /* the one at the end cycle is applied */
  ck_assert_uint_eq(res.skipped_entry, 2);
  ck_assert_uint_eq(res.skipped_at, 5000);
  apic_scenario_result_free(&res);
  apic_scenario_free(sc);
}
END_TEST

/* Stimulus the core cannot take is the guest's problem, not the scenario's:
   the run goes on, but a WRMSR that raised #GP (xAPIC mode, reserved bits)
   and an MMIO write in x2APIC mode (SDM 10.12.2) are each noted with their
   stimulus index, and the #GP is a gp_fault event (b=1: the host's) in the
   trace. */
START_TEST(run_notes_stimulus_not_taken) {
  apic_scenario *sc = parse_ok(
      "{'machine': {'cpus': 2}, 'stimulus': ["
      "{'at': 1000, 'write': {'cpu': 1, 'reg': 'TPR', 'value': 16}}, "
      "{'at': 30000, 'wrmsr': {'cpu': 1, 'msr': '0x808', 'value': 32}}, "
      "{'at': 31000, 'wrmsr': {'cpu': 1, 'msr': '0x1b', 'value': '0xfee00c00'}}, "
      "{'at': 32000, 'write': {'cpu': 1, 'reg': 'TPR', 'value': 48}}, "
      "{'at': 33000, 'wrmsr': {'cpu': 1, 'msr': '0x808', 'value': '0x100000000'}}, "
      "{'at': 34000, 'wrmsr': {'cpu': 1, 'msr': '0x808', 'value': 32}}], "
      "'run': {'cycles': 50000}, "
      "'expect': {'registers': [{'cpu': 1, 'reg': 'TPR', 'value': 32}]}}");
  char t[64];
  temp_path(t, sizeof t);
  apic_scenario_opts o = {0};
  o.trace_path = t;
  apic_scenario_result res;
  run_ok(sc, &o, &res);
  ck_assert_uint_eq(res.failed, 0);  /* the last WRMSR, in x2APIC mode, took */
  ck_assert_uint_eq(res.nignored, 3);
  ck_assert_uint_eq(res.nnotes, 3);
  ck_assert_str_eq(res.notes[0].text, "stimulus[1] at cycle 30000: wrmsr 0x808 on cpu 1 "
                   "raised #GP (the APIC is in xAPIC mode)");
  ck_assert_int_eq(res.notes[0].gp, 1);
  ck_assert_uint_eq(res.notes[1].entry, 3);
  ck_assert_uint_eq(res.notes[1].at, 32000);
  ck_assert_int_eq(res.notes[1].gp, 0);
  ck_assert_msg(strstr(res.notes[1].text, "stimulus[3] at cycle 32000: write to TPR on cpu 1 "
                       "ignored: the APIC is in x2APIC mode, MMIO is not decoded"),
                "%s", res.notes[1].text);
  ck_assert_msg(strstr(res.notes[2].text, "stimulus[4] at cycle 33000: wrmsr 0x808 on cpu 1 "
                       "raised #GP (reserved bits"), "%s", res.notes[2].text);
  apic_scenario_result_free(&res);
  ck_assert_ptr_null(res.notes);

  apic_trace *tr;
  char why[256];
  ck_assert_int_eq(apic_trace_open(&tr, t, why, sizeof why), APIC_OK);
  apic_event e;
  uint64_t gp_at[4];
  unsigned ngp = 0;
  while (apic_trace_next(tr, &e) == APIC_OK)
    if (e.kind == APIC_EV_GP_FAULT) {
      ck_assert_uint_eq(e.cpu, 1);
      ck_assert_uint_eq(e.a, 0x808);
      ck_assert_uint_eq(e.b, 1);
      if (ngp < 4) gp_at[ngp] = e.cycle;
      ngp++;
    }
  apic_trace_close(tr);
  unlink(t);
  ck_assert_uint_eq(ngp, 2);
  ck_assert_uint_eq(gp_at[0], 30000);
  ck_assert_uint_eq(gp_at[1], 33000);
  apic_scenario_free(sc);

  /* past APIC_SCENARIO_MAX_NOTES the count goes on, the notes stop */
  char *text = malloc(16384);
  ck_assert_ptr_nonnull(text);
  int w = snprintf(text, 16384, "{'machine': {'cpus': 1}, 'stimulus': [");
  for (int i = 0; i < APIC_SCENARIO_MAX_NOTES + 6; i++)
    w += snprintf(text + w, 16384 - (size_t)w, "%s{'at': %d, 'wrmsr': {'cpu': 0, 'msr': "
                  "'0x808', 'value': 1}}", i ? ", " : "", 100 + i);
  snprintf(text + w, 16384 - (size_t)w, "], 'run': {'cycles': 1000}}");
  sc = parse_ok(text);
  free(text);
  run_ok(sc, NULL, &res);
  ck_assert_uint_eq(res.nignored, APIC_SCENARIO_MAX_NOTES + 6);
  ck_assert_uint_eq(res.nnotes, APIC_SCENARIO_MAX_NOTES);
  apic_scenario_result_free(&res);
  apic_scenario_free(sc);
}
END_TEST


/* ---- parser bugs found by this suite, fixed in lib/scenario.c ----
 * Each asserts the behaviour examples/README.md promises. */

START_TEST(fixed_bug_empty_stimulus_qsort_null) {
  /* "stimulus": [] leaves the action table NULL and qsort(NULL, 0, ...) is
     undefined: the sanitizer build stops here (lib/scenario.c, the qsort
     after parse_stimulus) */
  apic_scenario *sc = parse_ok("{'machine': {'cpus': 1}, 'stimulus': []}");
  apic_scenario_free(sc);
}
END_TEST

START_TEST(fixed_bug_trailing_text_accepted) {
  refused_n("{\"machine\": {\"cpus\": 4}} junk", 29, "(top level)", "invalid JSON");
  static const char nul[] = "{\"machine\": {\"cpus\": 4}}\0\0garbage";
  refused_n(nul, sizeof nul - 1, "(top level)", "invalid JSON");
}
END_TEST

START_TEST(fixed_bug_nul_in_string_accepted) {
  static const char s[] = "{\"name\": \"a\0b\", \"machine\": {\"cpus\": 4}}";
  refused_n(s, sizeof s - 1, "(top level)", "invalid JSON");
}
END_TEST

START_TEST(fixed_bug_nul_as_whitespace) {
  /* cJSON skips every byte <= 0x20 between tokens, NUL and ^A included */
  static const char s[] = "{\"machine\":\0{\"cpus\":\x01 4\0}}";
  refused_n(s, sizeof s - 1, "(top level)", "invalid JSON");
  refused_n("{\0}", 3, "(top level)", "invalid JSON");
}
END_TEST

START_TEST(fixed_bug_truncation_not_said) {
  /* "(the text ends too early)" is printed for a cut-off text, though
     cJSON reports the last byte as the error position */
  refused_n("{\"machine\": {\"cpus\": 4}", 23, "(top level)", "ends too early");
}
END_TEST

START_TEST(fixed_bug_duplicate_key_ignored) {
  char *t = q("{'machine': {'cpus': 4, 'cpus': 99999}}");
  refused_n(t, strlen(t), "machine.cpus", "twice");
  free(t);
}
END_TEST

START_TEST(fixed_bug_octal_whole_numbers) {
  /* "decimal or 0x hex": "010" is ten, or refused - not eight */
  apic_scenario *sc;
  char why[512];
  char *t = q("{'machine': {'cpus': '010'}}");
  int rc = parse_n(t, strlen(t), &sc, why, sizeof why);
  free(t);
  if (rc == APIC_OK) {
    ck_assert_uint_eq(apic_scenario_config(sc)->ncpus, 10);
    apic_scenario_free(sc);
  }
}
END_TEST

START_TEST(fixed_bug_stimulus_time_wraps) {
  /* at + 3 * every = 2^64: the fourth level change lands on cycle 0 */
  char *t = q(STIM("{'at': '0x4000000000000000', 'every': '0x4000000000000000', "
                   "'count': 4, 'pin': 2, 'level': 1}"));
  refused_n(t, strlen(t), "stimulus[0]", "");
  free(t);
}
END_TEST

START_TEST(fixed_bug_expansion_allocates_before_limit) {
  /* 12 million pin changes from an 80-byte entry: refused for the count,
     before the parser has grown its action table to hundreds of MiB */
#if !defined(__SANITIZE_ADDRESS__)
  struct rlimit rl = {256u << 20, 256u << 20};
  ck_assert_int_eq(setrlimit(RLIMIT_AS, &rl), 0);
#endif
  char *t = q(STIM("{'every': 2, 'count': 6000000, 'pin': 2, 'pulse': 1}"));
  refused_n(t, strlen(t), "stimulus[0]", "more than 10000000");
  free(t);
}
END_TEST

START_TEST(fixed_bug_tlb_scoreboard_unbounded) {
  /* tlb_shootdown_scoreboard with 'initiators': 65536 on 65536 cores: a
     scoreboard slot per (core, initiator), 112 GiB of calloc with every
     slot then written, even from `apicsim check` (its trial install);
     refused for its size before anything is allocated */
#if !defined(__SANITIZE_ADDRESS__)
  struct rlimit rl = {256u << 20, 256u << 20};
  ck_assert_int_eq(setrlimit(RLIMIT_AS, &rl), 0);
#endif
  char *t = q("{'machine': {'cpus': 65536}, 'programs': [{'program': "
              "'tlb_shootdown_scoreboard', 'cpus': 'all', 'args': {'initiators': 65536}}]}");
  refused_n(t, strlen(t), "programs[0].args", "at most 16777216");
  free(t);
}
END_TEST

START_TEST(fixed_bug_duplicate_program_arg_ignored) {
  /* 'args': {'targets': [1], 'targets': [2]}: the second silently won,
     where every other object refuses a field given twice */
  char *t = q(PROG("linux_send_ipi_mask", "[0]", "'targets': [1], 'targets': [2]"));
  refused_n(t, strlen(t), "programs[0].args.targets", "twice");
  free(t);
}
END_TEST

START_TEST(fixed_bug_register_expect_reads_nothing) {
  /* A register the core cannot read in its mode read as 0, so "value": 0
     passed without a look: ICR_HI in x2APIC mode (RDMSR 0x831 #GP), EOI
     (write-only), any register of a globally disabled APIC, SELF_IPI in
     xAPIC mode (and that MMIO read logged an ESR error after the run) */
  apic_scenario *sc = parse_ok(
      "{'machine': {'cpus': 4, 'x2apic': true}, 'stimulus': ["
      "{'at': 10, 'wrmsr': {'cpu': 2, 'msr': '0x1b', 'value': 0}}, "
      "{'at': 10, 'wrmsr': {'cpu': 3, 'msr': '0x1b', 'value': 0}}, "
      "{'at': 20, 'wrmsr': {'cpu': 3, 'msr': '0x1b', 'value': '0xfee00800'}}], "
      "'run': {'cycles': 1000}, 'expect': {'registers': ["
      "{'cpu': 0, 'reg': 'ICR_HI', 'value': 0}, {'cpu': [1, 0], 'reg': 'EOI', 'value': 0}, "
      "{'cpu': 2, 'reg': 'TPR', 'value': 0}, {'cpu': 3, 'reg': 'SELF_IPI', 'value': 0}, "
      "{'cpu': 'all', 'reg': 'TPR', 'value': 0, 'mask': 0}, {'cpu': 3, 'reg': 'ESR', 'value': 0}, "
      "{'cpu': [0, 1, 3], 'reg': 'SVR', 'value': '0xff', 'mask': '0xff'}]}}");
  apic_scenario_result res;
  run_ok(sc, NULL, &res);
  ck_assert_uint_eq(res.nignored, 0);
  result_is(&res, "expect.registers[0]", 0, "0x0 on each of 1 cores",
            "cpu 0: cannot read it: the register does not exist in x2APIC mode");
  result_is(&res, "expect.registers[1]", 0, "0x0", "cpu 1: cannot read it: the register is "
            "write-only");
  result_is(&res, "expect.registers[2]", 0, "0x0", "cpu 2: cannot read it: the APIC is "
            "globally disabled");
  result_is(&res, "expect.registers[3]", 0, "0x0", "cpu 3: cannot read it: the register does "
            "not exist on this APIC");
  result_is(&res, "expect.registers[4]", 0, "0x0 on each of 4 cores", "cpu 2: cannot read it");
  result_is(&res, "expect.registers[5]", 1, "0x0", "as expected");
  result_is(&res, "expect.registers[6]", 1, "0xff on each of 3 cores", "as expected");
  ck_assert_uint_eq(res.failed, 5);
  apic_scenario_result_free(&res);
  apic_scenario_free(sc);
}
END_TEST

START_TEST(fixed_bug_until_done_without_programs) {
  /* with no programs, "every program finished" held at cycle 0: the run
     stopped there, "done", and the stimulus never happened */
  char *t = q("{'machine': {'cpus': 2, 'ioapics': [{'pins': 24}]}, 'stimulus': ["
              "{'at': 100, 'rte': {'pin': 4, 'vector': '0x40', 'dest': 1}}, "
              "{'at': 200, 'pin': 4, 'level': 1}], 'run': {'cycles': 100000, 'until': 'done'}, "
              "'expect': {'deliveries': {'min': 1}}}");
  refused_n(t, strlen(t), "run.until", "with no programs it would stop at cycle 0");
  free(t);
}
END_TEST

START_TEST(fixed_bug_expect_core_lists_unbounded) {
  /* {"cpu": "all", "min": 0} 65 times on 65536 cores, 2 KiB of text: 17 MiB
     of core lists and, after the run, 1.1 billion counter reads (past the
     fuzzer's 10 s); 9999 of them in 220 KiB took 2.5 GiB and minutes.
     Refused at the list that goes past the bound, before the run */
  refused_repeat("{\"machine\": {\"cpus\": 65536}, \"expect\": {\"handlers\": [",
                 "{\"cpu\": \"all\", \"min\": 0}", 65, "]}}", "expect.handlers[64].cpu",
                 "more than 4194304 cores");
}
END_TEST

START_TEST(fixed_bug_ipi_in_flight_called_lost) {
  /* examples/scenarios/linux_send_ipi_mask.json cut at cycle 2444, its
     first IPIs on their way: the program's check called one lost ("cpu 1:
     1 IPIs of vector 0xfb sent, 0 handled + 0 coalesced"), failing a run of
     a fixed number of cycles; it is in flight, and with until: done the
     work is not done yet */
  static const char *const until[] = {"", ", 'until': 'done'"};
  for (int u = 0; u < 2; u++) {
    char text[512];
    snprintf(text, sizeof text, "{'machine': {'cpus': 8, 'bus': 'xapic'}, 'programs': "
             "[{'program': 'linux_send_ipi_mask', 'cpus': [0], 'args': {'targets': [1, 2, 3], "
             "'vector': '0xfb', 'rounds': 10, 'interval': 2000}}], 'run': {'cycles': 2444%s}}",
             until[u]);
    apic_scenario *sc = parse_ok(text);
    apic_scenario_result res;
    run_ok(sc, NULL, &res);
    result_is(&res, "expect.programs", !u, u ? "all work done" : "no violation",
              u ? "no violation, but not done" : "no violation");
    ck_assert_msg(strstr(res.expect[0].got, "3 in flight when the run stopped, none lost"),
                  "%s", res.expect[0].got);
    apic_scenario_result_free(&res);
    apic_scenario_free(sc);
  }
}
END_TEST

/* scenario_run.c: an idle stretch costs nothing, also in the run loop. An
   idle machine run for 10^15 cycles went through it a million cycles at a
   time: 10^9 slices, a hang. */
START_TEST(fixed_bug_idle_run_sliced_for_ever) {
  apic_scenario *sc = parse_ok(
      "{'machine': {'cpus': 2}, 'programs': [{'program': 'idle', 'cpus': 'all'}], "
      "'stimulus': [{'at': 500000000000000, 'rte': {'pin': 3, 'vector': 48, 'dest': 1}}, "
      "{'at': 600000000000000, 'pin': 3, 'pulse': 100}], "
      "'run': {'cycles': 1000000000000000}, "
      "'expect': {'handlers': [{'cpu': 1, 'vector': 48, 'count': 1}]}}");
  apic_scenario_result res;
  run_ok(sc, NULL, &res);
  ck_assert_uint_eq(res.end_cycle, 1000000000000000ull);
  ck_assert_uint_eq(res.failed, 0);
  ck_assert_uint_eq(res.nskipped, 0);
  apic_scenario_result_free(&res);
  apic_scenario_free(sc);
}
END_TEST

/* scenario_run.c: opts.cycles past APIC_CYCLE_MAX is refused up front with
   a message that says so (apic_sim_run would refuse it half way). */
START_TEST(fixed_bug_cycles_override_past_clock) {
  apic_scenario *sc = parse_ok("{'machine': {'cpus': 1}}");
  apic_scenario_result res;
  apic_scenario_opts o = {0};
  o.cycles_set = 1;
  o.cycles = APIC_CYCLE_MAX + 1;
  char why[256] = "";
  ck_assert_int_eq(apic_scenario_run(sc, &o, &res, why, sizeof why), APIC_E_TIME);
  ck_assert_msg(strstr(why, "opts.cycles") && strstr(why, "APIC_CYCLE_MAX"), "%s", why);
  o.cycles = 0;
  ck_assert_int_eq(apic_scenario_run(sc, &o, &res, why, sizeof why), APIC_E_ARG);
  ck_assert_msg(strstr(why, "opts.cycles"), "%s", why);
  apic_scenario_free(sc);
}
END_TEST

/* scenario.c parse_timing: the machine's own limits (sim.c check_config),
   said at the JSON path: insn 0 would let a spinning guest hang at one
   cycle, timer_div above APIC_TIMER_DIV_MAX would wrap the timer period. */
START_TEST(fixed_bug_timing_limits_at_create_only) {
  refused_n("{\"machine\": {\"cpus\": 1, \"timing\": {\"insn\": 0}}}", 47,
            "machine.timing.insn", "1..");
  const char *big = "{\"machine\": {\"cpus\": 1, \"timing\": {\"timer_div\": 1048577}}}";
  refused_n(big, strlen(big), "machine.timing.timer_div", "1048576");
  apic_scenario_free(parse_ok("{'machine': {'cpus': 1, 'timing': {'timer_div': 1048576}}}"));
}
END_TEST

int main(void) {
  Suite *s = suite_create("scenario");
  TCase *tc = tcase_create("malformed");
  tcase_add_loop_test(tc, malformed_refused_with_path, 0, (int)(sizeof bad / sizeof bad[0]));
  tcase_add_test(tc, malformed_empty_and_nul);
  tcase_add_test(tc, malformed_too_big);
  tcase_add_test(tc, malformed_too_many);
  tcase_add_test(tc, malformed_deeply_nested);
  tcase_add_test(tc, malformed_long_names);
  tcase_add_test(tc, malformed_small_buffers);
  tcase_add_test(tc, malformed_random_damage);
  suite_add_tcase(s, tc);
  tc = tcase_create("expect");
  tcase_add_test(tc, valid_values_reach_the_machine);
  tcase_add_test(tc, expect_all_pass);
  tcase_add_test(tc, expect_each_kind_fails);
  tcase_add_test(tc, expect_programs_fails);
  tcase_add_test(tc, expect_order_fails_with_cycles);
  tcase_add_test(tc, run_refuses_uninstallable);
  tcase_add_test(tc, run_cycles_override);
  tcase_add_test(tc, machine_logical_ids);
  suite_add_tcase(s, tc);
  tc = tcase_create("deterministic");
  tcase_add_test(tc, deterministic_runs_and_traces);
  tcase_add_test(tc, deterministic_seed_changes_run);
  tcase_add_test(tc, run_notes_stimulus_not_taken);
  tcase_add_test(tc, run_counts_stimulus_never_applied);
  suite_add_tcase(s, tc);
  {
    tc = tcase_create("found_bugs");
    tcase_add_test(tc, fixed_bug_empty_stimulus_qsort_null);
    tcase_add_test(tc, fixed_bug_trailing_text_accepted);
    tcase_add_test(tc, fixed_bug_nul_in_string_accepted);
    tcase_add_test(tc, fixed_bug_nul_as_whitespace);
    tcase_add_test(tc, fixed_bug_truncation_not_said);
    tcase_add_test(tc, fixed_bug_duplicate_key_ignored);
    tcase_add_test(tc, fixed_bug_octal_whole_numbers);
    tcase_add_test(tc, fixed_bug_stimulus_time_wraps);
    tcase_add_test(tc, fixed_bug_expansion_allocates_before_limit);
    tcase_add_test(tc, fixed_bug_tlb_scoreboard_unbounded);
    tcase_add_test(tc, fixed_bug_duplicate_program_arg_ignored);
    tcase_add_test(tc, fixed_bug_expect_core_lists_unbounded);
    tcase_add_test(tc, fixed_bug_register_expect_reads_nothing);
    tcase_add_test(tc, fixed_bug_until_done_without_programs);
    tcase_add_test(tc, fixed_bug_ipi_in_flight_called_lost);
    tcase_add_test(tc, fixed_bug_idle_run_sliced_for_ever);
    tcase_add_test(tc, fixed_bug_cycles_override_past_clock);
    tcase_add_test(tc, fixed_bug_timing_limits_at_create_only);
    suite_add_tcase(s, tc);
  }
  return tu_run(s);
}
