"""Build step of the sabre Python package (pyproject.toml has the metadata).

Besides the Python modules, the wheel carries
- the public headers (``sabre/include/sabre/*.h``, from ``../include``, or
  ``$SABRE_SOURCE_DIR/include``): the
  cdef is generated from them at import;
- ``libsabre.so`` when one is found (``$SABRE_LIB``, else
  ``../build/release/libsabre.so``), so the installed package works without
  the source tree.  Without one it loads the system's libsabre.so.

Offline: ``/usr/bin/python3 -m pip install --no-build-isolation ./python``
(Debian's python3-setuptools; nothing is downloaded).
"""
import glob
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("SABRE_SOURCE_DIR") or os.path.dirname(HERE)


class BuildPy(build_py):
    def run(self):
        super().run()
        headers = sorted(glob.glob(os.path.join(ROOT, "include", "sabre", "*.h")))
        if not headers:
            raise SystemExit("sabre: no headers in %s/include/sabre: build from the source tree" % ROOT)
        dst = os.path.join(self.build_lib, "sabre", "include", "sabre")
        os.makedirs(dst, exist_ok=True)
        for h in headers:
            shutil.copy2(h, dst)
        lib = os.environ.get("SABRE_LIB") or os.path.join(ROOT, "build", "release", "libsabre.so")
        if os.path.exists(lib):
            shutil.copy2(lib, os.path.join(self.build_lib, "sabre", "libsabre.so"))


setup(cmdclass={"build_py": BuildPy})
