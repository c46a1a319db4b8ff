#!/bin/sh
# The apicsim command's messages and exit statuses, as a user meets them:
# each case runs one command and checks its exit status and that its output
# (stdout and stderr together) says what it must.
# usage: test_cli.sh APICSIM SOURCE_DIR
set -u
apicsim="$1"
src="$2"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/apicsim-cli.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
failures=0
cases=0

# check RC TEXT CMD...: CMD exits RC and its output contains TEXT (fixed string).
check() {
  want_rc="$1"
  text="$2"
  shift 2
  cases=$((cases + 1))
  "$apicsim" "$@" >"$tmp/out" 2>&1
  rc=$?
  if [ "$rc" != "$want_rc" ] || ! grep -qF -- "$text" "$tmp/out"; then
    echo "FAIL: apicsim $*: exit $rc (want $want_rc), output lacks \"$text\" or:"
    sed 's/^/    /' "$tmp/out"
    failures=$((failures + 1))
  else
    echo "ok   apicsim $*: $text"
  fi
}

# Stimulus the cores do not take is listed, and the run still succeeds.
cat >"$tmp/gp.json" <<'JSON'
{"name": "gp", "machine": {"cpus": 2}, "stimulus": [
  {"at": 30000, "wrmsr": {"cpu": 1, "msr": "0x808", "value": 32}},
  {"at": 31000, "wrmsr": {"cpu": 1, "msr": "0x1b", "value": "0xfee00c00"}},
  {"at": 32000, "write": {"cpu": 1, "reg": "TPR", "value": 16}}],
 "run": {"cycles": 50000}}
JSON
check 0 "stimulus the cores did not take: 2" run --quiet "$tmp/gp.json"
check 0 "stimulus[0] at cycle 30000: wrmsr 0x808 on cpu 1 raised #GP (the APIC is in xAPIC mode)" \
  run --quiet "$tmp/gp.json"
check 0 "stimulus[2] at cycle 32000: write to TPR on cpu 1 ignored: the APIC is in x2APIC mode" \
  run --quiet "$tmp/gp.json" -o "$tmp/gp.trace"
check 0 "gp_fault       cpu=1 a=0x808 b=0x1" trace dump "$tmp/gp.trace" --kind gp_fault

# trace dump: the kinds are in --help; filters that cannot match are errors.
trace="$tmp/mask.trace"
"$apicsim" run --quiet "$src/examples/scenarios/linux_send_ipi_mask.json" -o "$trace" \
  >/dev/null 2>&1 || { echo "FAIL: could not write $trace"; exit 1; }
check 0 "APIC_EVENT_MAP in" trace dump --help
for kind in icr_write irr_set handler_enter gp_fault withdrawn; do
  check 0 "  $kind " trace dump --help
done
check 2 "lists them" trace dump "$trace" --kind bogus
check 2 "--cpu 9: the trace has 8 cores (0..7)" trace dump "$trace" --cpu 9
check 2 "--from 10 is after --to 5" trace dump "$trace" --from 10 --to 5

# run: why it stopped, the options in --help, a --cycles that cannot run.
check 0 "done (every program finished)" run --quiet "$src/examples/scenarios/debugger_freeze.json"
check 0 "stopped at cycle 50000, idle; " run --quiet "$tmp/gp.json"
check 0 "-q, --quiet" run --help
check 2 "--cycles must be at least 1" run "$tmp/gp.json" --cycles 0
check 2 "--cycles: 'ten' is not a whole number in 1.." run "$tmp/gp.json" --cycles ten
check 2 "--cycles: '4611686018427387905' is not a whole number in 1..4611686018427387904" \
  run "$tmp/gp.json" --cycles 4611686018427387905
# an idle machine over a long run costs nothing (it used to take a million-cycle
# slice at a time: 10^9 of them here)
cat >"$tmp/idle.json" <<'JSON'
{"name": "idle_long", "machine": {"cpus": 2}, "programs": [{"program": "idle", "cpus": "all"}],
 "run": {"cycles": "1000000000000000"}}
JSON
check 0 "stopped at cycle 1000000000000000" run "$tmp/idle.json"
# the trace being exported is not overwritten by its own export
check 0 "" run --quiet "$tmp/gp.json" -o "$tmp/gp.trace"
check 2 "is the trace being exported" trace export --format json "$tmp/gp.trace" -o "$tmp/gp.trace"
check 0 "records" trace stats "$tmp/gp.trace"

# trace export names what is missing.
check 2 "--format, FILE and -o OUT are missing" trace export
check 2 "-o OUT is missing" trace export --format vcd "$trace"
check 2 "--format and FILE are missing" trace export -o "$tmp/x.vcd"

# list-programs: a choice list wider than its column does not push the
# default out of line; the default column is the same on every line.
"$apicsim" list-programs >"$tmp/progs" 2>&1
cases=$((cases + 1))
cols=$(grep -E '^ +(\(required\) )?.* default ' "$tmp/progs" |
       awk '{ print index($0, " default ") }' | sort -u)
if [ "$(echo "$cols" | wc -l)" != 1 ] || ! grep -q 'periodic|oneshot|deadline$' "$tmp/progs"; then
  echo "FAIL: list-programs: 'default' at columns $(echo $cols), or the long choices not wrapped:"
  sed 's/^/    /' "$tmp/progs"
  failures=$((failures + 1))
else
  echo "ok   apicsim list-programs: every default at column $cols"
fi

# trace stats: a core list cut short says how to see the rest, --all does.
cat >"$tmp/big.json" <<'JSON'
{"name": "big", "machine": {"cpus": 40}, "programs": [{"program": "linux_send_ipi_allbutself",
 "cpus": "all"}], "run": {"cycles": 1000000, "until": "done"}}
JSON
"$apicsim" run --quiet "$tmp/big.json" -o "$tmp/big.trace" >/dev/null 2>&1 ||
  { echo "FAIL: could not write $tmp/big.trace"; exit 1; }
check 0 "... and 8 more cores ('trace stats --all' lists them)" trace stats "$tmp/big.trace"
check 0 "  cpu 39 " trace stats "$tmp/big.trace" --all
check 0 "--all" trace stats --help

# A missing input file is exit 2 for every command, as a malformed one is.
for cmd in "run" "check" "trace dump" "trace stats"; do
  check 2 "$tmp/nope" $cmd "$tmp/nope"
done
check 2 "$tmp/nope" trace export --format vcd "$tmp/nope" -o "$tmp/x.vcd"

echo "$cases cases, $failures failures"
[ "$failures" = 0 ]
