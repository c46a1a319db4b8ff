#!/bin/sh
# Runs every example scenario (examples/README.md, "The examples"):
#   - `apicsim check` must accept each one (exit 0);
#   - `apicsim run` must exit 0 for a scenario, and 1 for a *_broken.json,
#     whose program `bug` argument must make the program's own correctness
#     check (expect.programs) fail: the expectations bite;
#   - a trace written with -o must read back with `trace stats` and
#     `trace dump --limit 5`;
#   - a malformed scenario is refused with exit 2 and its JSON path.
# usage: test_scenarios.sh APICSIM SOURCE_DIR
set -u
apicsim="$1"
src="$2"
dir="$src/examples/scenarios"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/apicsim-scenarios.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
failures=0
good=0
broken=0

# The FAIL lines of a run and their expected/got lines.
failed_lines() {
  awk '/^  FAIL/ { n = 3 } n > 0 { print; n-- }' "$1" | sed "s/^/$2/"
}

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

for f in "$dir"/*.json; do
  [ -e "$f" ] || { fail "no scenarios in $dir"; break; }
  name=$(basename "$f")
  if ! "$apicsim" check "$f" >"$tmp/check.out" 2>&1; then
    fail "$name: apicsim check refused it:"
    sed 's/^/    /' "$tmp/check.out"
    continue
  fi
  "$apicsim" run --quiet "$f" >"$tmp/run.out" 2>&1
  rc=$?
  case "$name" in
  *_broken.json)
    broken=$((broken + 1))
    if [ "$rc" != 1 ]; then
      fail "$name: expected exit 1 (an expectation fails), got $rc"
      sed 's/^/    /' "$tmp/run.out"
    elif ! grep -q '^  FAIL expect\.programs' "$tmp/run.out"; then
      fail "$name: failed, but not the program's correctness check (expect.programs):"
      failed_lines "$tmp/run.out" '    '
    else
      echo "ok   $name fails as it must:"
      failed_lines "$tmp/run.out" '     '
    fi
    ;;
  *)
    good=$((good + 1))
    if [ "$rc" != 0 ]; then
      fail "$name: expected exit 0, got $rc"
      sed 's/^/    /' "$tmp/run.out"
    else
      echo "ok   $name: $(grep '^expectations:' "$tmp/run.out")"
    fi
    ;;
  esac
done

# A trace of one scenario reads back.
trace="$tmp/mask.trace"
if ! "$apicsim" run --quiet "$dir/linux_send_ipi_mask.json" -o "$trace" >"$tmp/run.out" 2>&1; then
  fail "run -o $trace failed"
  sed 's/^/    /' "$tmp/run.out"
elif ! grep -q "trace written to $trace" "$tmp/run.out"; then
  fail "run -o does not say where the trace went"
else
  if ! "$apicsim" trace stats "$trace" >"$tmp/stats.out" 2>&1; then
    fail "trace stats failed"
    sed 's/^/    /' "$tmp/stats.out"
  elif ! grep -q '"linux_send_ipi_mask"' "$tmp/stats.out" ||
       ! grep -q 'deliveries: 30 vectors set in IRR' "$tmp/stats.out"; then
    fail "trace stats does not show the scenario's name and its 30 deliveries:"
    sed 's/^/    /' "$tmp/stats.out"
  else
    echo "ok   trace stats: $(head -n 1 "$tmp/stats.out")"
  fi
  if ! "$apicsim" trace dump --limit 5 "$trace" >"$tmp/dump.out" 2>&1; then
    fail "trace dump --limit 5 failed"
    sed 's/^/    /' "$tmp/dump.out"
  elif [ "$(wc -l <"$tmp/dump.out")" -ne 5 ]; then
    fail "trace dump --limit 5 printed $(wc -l <"$tmp/dump.out") lines"
    sed 's/^/    /' "$tmp/dump.out"
  else
    echo "ok   trace dump --limit 5: 5 events"
  fi
fi

# A malformed scenario: exit 2, the JSON path in the message.
printf '{"machine": {"cpus": 4}, "programs": [{"program": "linux_send_ipi_mask", "cpus": [0], "args": {"targets": [1], "vector": 5}}]}' \
  >"$tmp/bad.json"
"$apicsim" check "$tmp/bad.json" >"$tmp/bad.out" 2>&1
rc=$?
if [ "$rc" != 2 ] || ! grep -q 'programs\[0\]\.args\.vector' "$tmp/bad.out"; then
  fail "check of a malformed scenario: exit $rc (want 2), message:"
  sed 's/^/    /' "$tmp/bad.out"
else
  echo "ok   malformed scenario refused: $(cat "$tmp/bad.out")"
fi
"$apicsim" run --quiet "$tmp/bad.json" >/dev/null 2>&1
rc=$?
[ "$rc" = 2 ] || fail "run of a malformed scenario: exit $rc, want 2"

[ "$good" -ge 9 ] || fail "only $good scenarios in $dir (one per built-in program)"
[ "$broken" -ge 7 ] || fail "only $broken *_broken.json in $dir (one per program with a bug)"
echo "$good scenarios, $broken broken variants, $failures failures"
[ "$failures" = 0 ]
