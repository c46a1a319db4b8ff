#!/bin/sh
# Installs the build into a scratch prefix, then builds tests/consumer with
# find_package(apicsim) and again with pkg-config, and runs both.
set -eu
build="$1"; src="$2"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
cmake -S "$src/tests/consumer" -B "$tmp/b" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/b" >/dev/null
"$tmp/b/consumer"
libdir=$(ls -d "$tmp"/prefix/lib*/pkgconfig | head -n 1)
PKG_CONFIG_PATH="$libdir" cc -o "$tmp/pc" "$src/tests/consumer/main.c" \
  $(PKG_CONFIG_PATH="$libdir" pkg-config --cflags --libs apicsim)  # as the README says
"$tmp/pc"
