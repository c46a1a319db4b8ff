#!/bin/sh
# Every "test_FILE: name" cited in docs/*.md must be a START_TEST(name) in
# tests/test_FILE.c, so the docs never point at tests that do not exist.
set -eu
src="$1"
missing=0
for ref in $(grep -ohE 'test_[a-z0-9_]+: [a-z0-9_]+' "$src"/docs/*.md | tr ' ' '#' | sort -u); do
  file=${ref%%:*}
  name=${ref#*#}
  if ! grep -q "START_TEST($name)" "$src/tests/$file.c" 2>/dev/null; then
    echo "docs cite $file: $name, which does not exist"
    missing=1
  fi
done
[ "$missing" = 0 ] && echo "every test the docs cite exists"
exit $missing
