"""Run the Python package's pytest suite for the test command (CTest `python`).

Fails unless pytest exits 0 *and* reports at least one passed test: pytest's
exit code 5 (no tests collected, e.g. a broken conftest or a renamed folder)
is a failure here, never a silent pass.  Prints pytest's own "N passed" line.
Usage: /usr/bin/python3 python/run_tests.py [pytest args...]
"""
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> int:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", os.path.join(HERE, "tests")] + sys.argv[1:]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=HERE)
    sys.stdout.write(p.stdout)
    tail = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
    m = re.search(r"(\d+) passed", tail)
    if p.returncode == 5:
        print("python tests: pytest collected no tests (exit code 5)")
        return 1
    if p.returncode != 0:
        print("python tests: pytest exited with %d" % p.returncode)
        return 1
    if not m or int(m.group(1)) == 0:
        print("python tests: no 'N passed' line in pytest's summary")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
