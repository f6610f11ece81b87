#!/bin/sh
# Examples use the public API only: every examples/*.c and *.h compiles with
# nothing but include/ on the include path; `sabre schema --emit c` output
# of every example schema compiles (its _Static_asserts check the layout
# against C's), and the checked-in examples/tutorial_step.h is what the tool
# generates today.
# It also links examples/quickstart.c the way the README's "Using sabre in
# your project" says (cc -I include ... libsabre.a -lpthread -lm).
#     examples_public.sh CC SABRE_TOOL SOURCE_DIR WORK_DIR [LIBSABRE_A]
set -eu
cc=$1 tool=$2 src=$3 work=$4 lib=${5:-}
mkdir -p "$work"
flags="-std=gnu11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -I$src/include"
n=0
for f in "$src"/examples/*.c "$src"/examples/*.h; do
  $cc $flags -fsyntax-only -x c "$f" || { echo "FAIL: $f needs more than include/"; exit 1; }
  n=$((n + 1))
done
for s in "$src"/examples/*.schema; do
  base=$(basename "$s" .schema)
  "$tool" schema --emit c "$s" >"$work/$base.h"
  printf '#include "%s.h"\nint main(void) { return 0; }\n' "$base" >"$work/$base.c"
  $cc $flags -I"$work" -o "$work/$base" "$work/$base.c" || { echo "FAIL: emit c of $s"; exit 1; }
  n=$((n + 1))
done
"$tool" schema --emit c "$src/examples/tutorial_step.schema" | diff -u "$src/examples/tutorial_step.h" - ||
  { echo "FAIL: examples/tutorial_step.h is stale: regenerate it"; exit 1; }
if [ -n "$lib" ]; then
  $cc -std=gnu11 -O2 -I "$src/include" "$src/examples/quickstart.c" "$lib" -lpthread -lm \
    -o "$work/quickstart" || { echo "FAIL: the README's build line"; exit 1; }
fi
echo "examples_public: $n files compiled with only include/ (and generated headers)"
