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
# The Python package (python/) and its tests use Debian's /usr/bin/python3
# explicitly: another python3 may come first on PATH without these modules.
# matplotlib draws the RL demo's learning curve (examples/rl/train.py --plot).
[ -x /usr/bin/python3 ] || need+=(python3)
for mod in numpy:python3-numpy cffi:python3-cffi pytest:python3-pytest \
           setuptools:python3-setuptools pip:python3-pip venv:python3-venv \
           matplotlib:python3-matplotlib; do
  /usr/bin/python3 -c "import ${mod%%:*}" >/dev/null 2>&1 || need+=("${mod#*:}")
done
# the MPI bridge (libsabre_mpi, sabre-mpi, its tests under mpirun)
command -v mpirun >/dev/null 2>&1 || need+=(openmpi-bin)
command -v mpicc >/dev/null 2>&1 || need+=(libopenmpi-dev)
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
# The browser tests (js/test/browser/run.mjs): Debian's chromium, driven by
# puppeteer-core@23 from npm (below).
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v npm >/dev/null 2>&1 || need+=(npm)
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
# puppeteer-core@23 (the last major that runs on node 20) into an ignored
# folder of the JS package, js/.browser-test/node_modules: no runtime
# dependency of the package, only of its browser tests.
bt="$(cd "$(dirname "$0")/.." && pwd)/js/.browser-test"
if ! grep -q '"version": "23\.' "$bt/node_modules/puppeteer-core/package.json" 2>/dev/null; then
  echo "sabre: installing puppeteer-core@23 into $bt"
  mkdir -p "$bt"
  npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$bt" puppeteer-core@23 >/dev/null
fi
