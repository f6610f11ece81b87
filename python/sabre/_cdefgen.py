"""Turn sabre's public C headers into a cffi ``cdef`` (no hand-copied layouts).

The binding never retypes a struct: at import it reads ``include/sabre/sabre.h``
and every header it includes (dependencies first), and hands cffi their
declarations after a small, exact preprocessing step:

- comments are removed, ``\\`` line continuations joined;
- ``#ifdef __cplusplus`` blocks, include guards, ``#include`` lines and other
  directives are dropped;
- ``#define NAME <integer expression>`` is evaluated (``1u << 20``,
  ``0x...ull``, other macros) and both substituted where the name is used
  (array sizes) and re-emitted as ``#define NAME <decimal>`` so that
  ``lib.NAME`` exists; other macros are ignored;
- ``static inline`` functions (bodies) are removed, ``_Atomic`` qualifiers
  dropped (same size and alignment as the plain type on every supported
  platform; the binding never performs atomic operations through them).

The struct sizes and field offsets cffi computes from this text are then
checked against the loaded library's own ``sabre_abi_json()`` export (see
``sabre._ffi``), so headers and library cannot disagree silently.
"""
from __future__ import annotations

import os
import re
from typing import Dict, List, Tuple

_INCLUDE = re.compile(r'^\s*#\s*include\s+"(sabre/[A-Za-z0-9_]+\.h)"')
_DEFINE = re.compile(r"^\s*#\s*define\s+([A-Za-z_][A-Za-z0-9_]*)\s+(.+?)\s*$")
_INT_SUFFIX = re.compile(r"\b(0[xX][0-9a-fA-F]+|\d+)([uUlL]+)\b")


_LEXEMES = re.compile(r'"(?:\\.|[^"\\\n])*"|/\*.*?\*/|//[^\n]*', re.S)


def _strip_comments(text: str) -> str:
    """Remove comments (keeping their line breaks) but not string literals."""

    def repl(m: "re.Match[str]") -> str:
        t = m.group(0)
        if t.startswith('"'):
            return t
        return " " + "\n" * t.count("\n")

    if text.count("/*") != text.count("*/") and "/*" in _LEXEMES.sub("", text):
        raise ValueError("unterminated comment in a sabre header")
    return _LEXEMES.sub(repl, text)


def _eval_int(expr: str, macros: Dict[str, int]):
    """Value of a C integer constant expression, or None if it is not one."""
    e = _INT_SUFFIX.sub(r"\1", expr.strip())
    if not re.fullmatch(r"[0-9A-Za-z_xX()\s<>|&+\-*~]+", e):
        return None
    # Substitute known macros; any other identifier means "not an integer".
    def sub(m):
        name = m.group(0)
        if re.fullmatch(r"0[xX][0-9a-fA-F]+|\d+", name):
            return name
        if name in macros:
            return "(%d)" % macros[name]
        raise KeyError(name)

    try:
        e = re.sub(r"\b[A-Za-z_0-9]+\b", sub, e)
        v = eval(e, {"__builtins__": {}}, {})  # only digits, operators, parens
    except Exception:
        return None
    return v if isinstance(v, int) else None


def _header_order(include_dir: str) -> List[str]:
    """sabre/*.h files reached from sabre/sabre.h, dependencies first."""
    order: List[str] = []
    seen = set()

    def visit(rel: str) -> None:
        if rel in seen:
            return
        seen.add(rel)
        path = os.path.join(include_dir, rel)
        with open(path, encoding="utf-8") as f:
            for line in f:
                m = _INCLUDE.match(line)
                if m:
                    visit(m.group(1))
        order.append(rel)

    visit("sabre/sabre.h")
    return order


def _drop_static_inline(text: str) -> str:
    while True:
        i = text.find("static inline")
        if i < 0:
            return text
        j = text.find("{", i)
        depth, k = 0, j
        while k < len(text):
            if text[k] == "{":
                depth += 1
            elif text[k] == "}":
                depth -= 1
                if depth == 0:
                    break
            k += 1
        text = text[:i] + text[k + 1 :]


def generate(include_dir: str) -> Tuple[str, List[str]]:
    """Return (cdef text, header files read) for the headers under include_dir."""
    macros: Dict[str, int] = {}
    body: List[str] = []
    files = _header_order(include_dir)
    for rel in files:
        with open(os.path.join(include_dir, rel), encoding="utf-8") as f:
            text = _strip_comments(f.read()).replace("\\\n", " ")
        lines = text.split("\n")
        keep: List[str] = []
        skip_depth = 0  # inside #ifdef __cplusplus
        depth = 0
        for line in lines:
            s = line.strip()
            if s.startswith("#"):
                d = s[1:].strip()
                if d.startswith("if"):
                    depth += 1
                    if skip_depth == 0 and "__cplusplus" in d:
                        skip_depth = depth
                elif d.startswith("endif"):
                    if skip_depth == depth:
                        skip_depth = 0
                    depth -= 1
                elif d.startswith("else") and skip_depth == depth and skip_depth:
                    skip_depth = 0
                elif skip_depth == 0:
                    m = _DEFINE.match(s)
                    if m:
                        v = _eval_int(m.group(2), macros)
                        if v is not None:
                            macros[m.group(1)] = v
                continue
            if skip_depth == 0:
                keep.append(line)
        text = _drop_static_inline("\n".join(keep))
        text = re.sub(r"\b_Atomic\s+", "", text)
        body.append(text)
    src = "\n".join(body)
    # Array sizes and the like: substitute every known macro by its value.
    if macros:
        names = sorted(macros, key=len, reverse=True)
        pat = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b")
        src = pat.sub(lambda m: str(macros[m.group(1)]), src)
    defines = "\n".join("#define %s %d" % (k, v) for k, v in macros.items() if v >= 0)
    src = re.sub(r"\n\s*\n+", "\n", src)
    return defines + "\n" + src, files


def macros(include_dir: str) -> Dict[str, int]:
    """The integer macros of the headers (name -> value)."""
    cdef, _ = generate(include_dir)
    out = {}
    for line in cdef.split("\n"):
        m = re.match(r"#define (\w+) (\d+)$", line)
        if m:
            out[m.group(1)] = int(m.group(2))
    return out
