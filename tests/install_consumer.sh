#!/usr/bin/env bash
# CTest install_consumer: installs the build into a temporary prefix and
# builds an out-of-tree program (tests/install/consumer.c) against it, once
# through the CMake package (find_package(sabre CONFIG): sabre::sabre and
# sabre::sabre_shared) and once through pkg-config (sabre.pc, shared and
# static); each program must run and print "consumer ok".
# Usage: install_consumer.sh BUILD_DIR CONSUMER_DIR LIBDIR ABI_MAJOR CC
set -euo pipefail
build=$1 consumer=$2 libdir=$3 major=$4 cc=$5
work=$(mktemp -d "${TMPDIR:-/tmp}/sabre-install.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
fail() { echo "install_consumer: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$prefix" >/dev/null
for f in include/sabre/sabre.h include/sabre/region.h include/sabre/abi.h bin/sabre \
         "$libdir/libsabre.a" "$libdir/libsabre.so" "$libdir/libsabre.so.$major" \
         "$libdir/cmake/sabre/sabreConfig.cmake" "$libdir/cmake/sabre/sabreConfigVersion.cmake" \
         "$libdir/cmake/sabre/sabreTargets.cmake" "$libdir/pkgconfig/sabre.pc"; do
  [ -e "$prefix/$f" ] || fail "cmake --install did not install $f"
done
soname=$(readelf -d "$prefix/$libdir/libsabre.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = "libsabre.so.$major" ] || fail "SONAME is '$soname', want libsabre.so.$major"
"$prefix/bin/sabre" abi --json | grep -q '"region_header"' || fail "installed sabre abi --json"
echo "installed: headers, libsabre.a, $soname, bin/sabre, CMake package, sabre.pc"

# 1. find_package(sabre CONFIG)
cmake -S "$consumer" -B "$work/cm" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" \
  -DCMAKE_BUILD_TYPE=Release >"$work/cm.log" 2>&1 || { cat "$work/cm.log"; fail "configure"; }
cmake --build "$work/cm" >>"$work/cm.log" 2>&1 || { cat "$work/cm.log"; fail "build"; }
"$work/cm/consumer_static" | grep -q "consumer ok" || fail "find_package static consumer"
"$work/cm/consumer_shared" | grep -q "consumer ok" || fail "find_package shared consumer"
readelf -d "$work/cm/consumer_shared" | grep -q "NEEDED.*\[libsabre.so.$major\]" ||
  fail "consumer_shared does not need libsabre.so.$major"
readelf -d "$work/cm/consumer_static" | grep -q "NEEDED.*libsabre" &&
  fail "consumer_static needs the shared library"
# The version file refuses a version this package is not.
if cmake -S "$consumer" -B "$work/cm99" -DCMAKE_PREFIX_PATH="$prefix" -DSABRE_WANT=99.0 \
     -DCMAKE_C_COMPILER="$cc" >"$work/cm99.log" 2>&1; then
  fail "find_package(sabre 99.0) was accepted"
fi
grep -q "compatible" "$work/cm99.log" || { cat "$work/cm99.log"; fail "version refusal"; }
echo "find_package: sabre::sabre and sabre::sabre_shared consumers run; sabre 99.0 refused"

# 2. pkg-config
export PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig"
pkg-config --exists sabre || fail "pkg-config does not find sabre.pc"
pc_cflags=$(pkg-config --cflags sabre)
pc_libs=$(pkg-config --libs sabre)
"$cc" -std=c11 -Wall -Wextra -Werror $pc_cflags "$consumer/consumer.c" -o "$work/pc_shared" \
  $pc_libs "-Wl,-rpath,$prefix/$libdir" || fail "pkg-config shared build"
"$work/pc_shared" | grep -q "consumer ok" || fail "pkg-config shared consumer"
priv=$(pkg-config --static --libs-only-other --libs-only-l sabre | sed 's/-lsabre//')
"$cc" -std=c11 -Wall -Wextra -Werror $pc_cflags "$consumer/consumer.c" -o "$work/pc_static" \
  $(pkg-config --libs-only-L sabre) -Wl,-Bstatic -lsabre -Wl,-Bdynamic $priv ||
  fail "pkg-config static build"
"$work/pc_static" | grep -q "consumer ok" || fail "pkg-config static consumer"
readelf -d "$work/pc_static" | grep -q "NEEDED.*libsabre" && fail "pc_static needs the shared library"
echo "pkg-config: sabre $(pkg-config --modversion sabre), shared and static consumers run"
echo "install_consumer: ok"
