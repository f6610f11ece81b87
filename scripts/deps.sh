#!/usr/bin/env bash
# Installs what building and testing sabre needs, only if it is missing
# (Debian 12, as root).  Safe to run again.
set -euo pipefail
need=()
command -v cc >/dev/null 2>&1 || need+=(build-essential)
command -v make >/dev/null 2>&1 || need+=(make)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config) # the install_consumer test
command -v readelf >/dev/null 2>&1 || need+=(binutils)
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v clang >/dev/null 2>&1 || need+=(clang)
command -v clang-format >/dev/null 2>&1 || need+=(clang-format)
command -v python3 >/dev/null 2>&1 || need+=(python3)
# libFuzzer and the sanitizer runtimes for clang
if ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 &&
   ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-aarch64.a >/dev/null 2>&1; then
  need+=(libclang-rt-14-dev)
fi
# WebAssembly build and the JS package (js/): emscripten (its JS optimizer
# needs node-acorn) and Node.js (>= 18: Atomics.waitAsync, worker_threads).
command -v emcc >/dev/null 2>&1 || need+=(emscripten)
[ -d /usr/share/nodejs/acorn ] || need+=(node-acorn)
command -v node >/dev/null 2>&1 || need+=(nodejs)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "sabre: missing packages: ${need[*]} (run as root, or install them)" >&2
    exit 1
  fi
  echo "sabre: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
