#!/usr/bin/env python3
"""Reference implementation of the sabre layout hash (docs/schema.md).

The layout hash is FNV-1a 64 over the bytes of a layout's canonical text.

usage:
  layout_hash.py TEXT...          print the hash of each canonical TEXT
  layout_hash.py                  hash stdin (trailing newlines are ignored)
  layout_hash.py --layout [TEXT]  also lay out the canonical text's root
                                  struct: "struct NAME size S align A", then
                                  one line per column "offset type name"
  layout_hash.py [--layout] --lines
                                  each non-empty line of stdin is one text
  layout_hash.py --check FILE.md  verify every golden vector in FILE.md
                                  (table rows holding `struct ...` and
                                  `0x<16 hex digits>`); exit 1 on a mismatch

Hashes print as 0x%016x, the same as `sabre schema`.  Only the standard
library is used; Python 3.6 or newer.
"""
import re
import sys

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
MASK64 = 0xFFFFFFFFFFFFFFFF


def layout_hash(canonical):
    """FNV-1a 64 of the canonical text (str or bytes)."""
    if isinstance(canonical, str):
        canonical = canonical.encode("ascii")
    h = FNV_OFFSET
    for b in canonical:
        h ^= b
        h = (h * FNV_PRIME) & MASK64
    return h


SCALARS = {"f32": 4, "f64": 8, "i8": 1, "u8": 1, "i16": 2, "u16": 2,
           "i32": 4, "u32": 4, "i64": 8, "u64": 8, "bool": 1}
STRUCT_RE = re.compile(r"struct ([A-Za-z_][A-Za-z0-9_]*)\{((?:[A-Za-z_][A-Za-z0-9_]*:"
                       r"[A-Za-z_][A-Za-z0-9_]*(?:\[[1-9][0-9]*\])?;)+)\}")
FIELD_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*):([A-Za-z_][A-Za-z0-9_]*)(?:\[([0-9]+)\])?;")


def align_up(x, a):
    return (x + a - 1) & ~(a - 1)


def layout(canonical):
    """Lay out canonical text: returns (name, size, align, [(offset, type, column)])."""
    structs = {}  # name -> (size, align, columns)
    pos, last = 0, None
    while pos < len(canonical):
        m = STRUCT_RE.match(canonical, pos)
        if not m:
            raise ValueError("not canonical text at byte %d" % pos)
        pos = m.end()
        off, align, cols = 0, 1, []
        for fname, ftype, count in FIELD_RE.findall(m.group(2)):
            n = int(count) if count else 1
            if ftype == "pad":
                off += n
                continue
            if ftype in SCALARS:
                size = falign = SCALARS[ftype]
                inner = [(0, ftype, "")]
            else:
                size, falign, inner = structs[ftype]
            off = align_up(off, falign)
            for i in range(n):
                prefix = fname + ("_%d" % i if count else "")
                for coff, ctype, cname in inner:
                    cols.append((off + i * size + coff, ctype,
                                 prefix + ("_" + cname if cname else "")))
            off += size * n
            align = max(align, falign)
        structs[m.group(1)] = (align_up(off, align), align, cols)
        last = m.group(1)
    return (last,) + structs[last]


def check(path):
    bad = total = 0
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            quoted = re.findall(r"`([^`]*)`", line)
            texts = [q for q in quoted if q.startswith("struct ")]
            hashes = [q for q in quoted if re.fullmatch(r"0x[0-9a-f]{16}", q)]
            if len(texts) != 1 or len(hashes) != 1:
                continue
            total += 1
            got = "0x%016x" % layout_hash(texts[0])
            if got != hashes[0]:
                bad += 1
                print("%s:%d: %s hashes to %s, the document says %s"
                      % (path, lineno, texts[0], got, hashes[0]))
    if total == 0:
        print("%s: no golden vectors found" % path)
        return 1
    print("%d golden vectors checked, %d wrong" % (total, bad))
    return 1 if bad else 0


def main(argv):
    if len(argv) >= 2 and argv[0] == "--check":
        return check(argv[1])
    want_layout = bool(argv) and argv[0] == "--layout"
    if want_layout:
        argv = argv[1:]
    lines = bool(argv) and argv[0] == "--lines"
    if lines:
        argv = argv[1:]
    if argv and argv[0].startswith("-"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    data = "" if argv else sys.stdin.buffer.read().decode("ascii")
    if lines:
        texts = [t for t in data.split("\n") if t]
    else:
        texts = argv or [data.rstrip("\n")]
    for t in texts:
        print("0x%016x" % layout_hash(t))
        if want_layout:
            name, size, align, cols = layout(t)
            print("struct %s size %d align %d" % (name, size, align))
            for off, typ, col in cols:
                print("%d %s %s" % (off, typ, col))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
