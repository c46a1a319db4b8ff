#!/bin/sh
# No global mutable state (STYLE.md): the library may hold read-only tables
# (.rodata, .data.rel.ro) but no object in .data or .bss. Also: every
# exported symbol carries the public prefix apic_.
set -eu
lib="$1"
bad=$(objdump -t "$lib" | awk '$4 ~ /^\.(data|bss)/ && $4 !~ /^\.data\.rel\.ro/ && $3 == "O"')
if [ -n "$bad" ]; then
  echo "mutable global objects in $lib:"; echo "$bad"; exit 1
fi
exported=$(nm -g --defined-only "$lib" | awk 'NF == 3 {print $3}' | grep -v '^apic_' || true)
hidden=$(objdump -t "$lib" | awk '$0 ~ /\.hidden/ {print $NF}')
for sym in $exported; do
  case " $hidden " in *" $sym "*) ;; *) echo "exported symbol without the apic_ prefix: $sym"; exit 1;; esac
done
echo "no mutable globals; all exported symbols are apic_*: ok"
