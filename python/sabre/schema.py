"""Schemas and layouts: the schema language compiled by the C library.

``Schema(text)`` compiles schema text (docs/schema.md); each struct becomes a
:class:`Layout` with its size, alignment, canonical text, hash, fields and
flattened columns.  numpy types come from the compiled layout, never from
hand-written dtypes: ``Column.dtype`` is a column's scalar type and
``Layout.dtype`` a structured dtype of one value (nested structs and fixed
arrays kept, padding left as gaps, ``itemsize == layout.size``).
"""
from __future__ import annotations

from typing import Dict, Iterator, List, NamedTuple, Optional

import numpy as np

from ._base import _Core, pystr
from ._ffi import ffi, lib
from .errors import NotFoundError, SchemaError, check

#: numpy dtype of each sabre scalar type (bool is one byte, 0 or 1).
SCALAR_DTYPES: Dict[str, np.dtype] = {
    "f32": np.dtype("<f4"),
    "f64": np.dtype("<f8"),
    "i8": np.dtype("i1"),
    "u8": np.dtype("u1"),
    "i16": np.dtype("<i2"),
    "u16": np.dtype("<u2"),
    "i32": np.dtype("<i4"),
    "u32": np.dtype("<u4"),
    "i64": np.dtype("<i8"),
    "u64": np.dtype("<u8"),
    "bool": np.dtype("?"),
}


def scalar_name(code: int) -> str:
    """Schema spelling of a sabre_scalar_t code ("f32", ...; "?" if invalid)."""
    return pystr(lib.sabre_scalar_name(code))


def scalar_dtype(code: int) -> np.dtype:
    """numpy dtype of a sabre_scalar_t code (ValueError if it has none)."""
    name = scalar_name(code)
    if name not in SCALAR_DTYPES:
        raise ValueError("sabre: scalar type code %d has no numpy dtype" % code)
    return SCALAR_DTYPES[name]


class Column(NamedTuple):
    """One flattened scalar column of a layout."""

    name: str
    type: str  # "f32", ...
    offset: int  # byte offset inside the struct
    size: int
    dtype: np.dtype


class Field(NamedTuple):
    """One direct field of a struct ("_" for padding)."""

    name: str
    kind: str  # "scalar", "struct" or "pad"
    type: str  # scalar spelling, struct name, or "pad"
    count: int
    is_array: bool
    offset: int
    stride: int
    size: int
    align: int


class Layout:
    """A compiled struct (read-only; keeps its schema alive)."""

    def __init__(self, core: _Core, ptr) -> None:
        self._core = core  # the schema owns the memory
        self._ptr = ptr
        self.name: str = pystr(ptr.name)
        self.size: int = ptr.size
        self.align: int = ptr.align
        self.hash: int = ptr.hash
        self.canonical: str = ffi.unpack(ptr.canonical, ptr.canonical_len).decode("utf-8")
        self.columns: List[Column] = []
        for i in range(ptr.ncolumns):
            c = ptr.columns[i]
            dt = scalar_dtype(c.type)
            self.columns.append(Column(pystr(c.name), scalar_name(c.type), c.offset, c.size, dt))
        kinds = {lib.SABRE_FIELD_SCALAR: "scalar", lib.SABRE_FIELD_STRUCT: "struct", lib.SABRE_FIELD_PAD: "pad"}
        self.fields: List[Field] = []
        self._sub: Dict[str, "Layout"] = {}
        for i in range(ptr.nfields):
            f = ptr.fields[i]
            kind = kinds.get(f.kind, "?")
            if kind == "struct":
                sub = Layout(core, f.type)
                self._sub[pystr(f.name)] = sub
                tname = sub.name
            elif kind == "scalar":
                tname = scalar_name(f.scalar)
            else:
                tname = "pad"
            self.fields.append(Field(pystr(f.name), kind, tname, f.count, bool(f.is_array), f.offset, f.stride, f.size, f.align))
        self.dtype: np.dtype = self._dtype()

    @property
    def cdata(self):
        """The underlying ``const sabre_layout_t *`` (valid while this object lives)."""
        return self._ptr

    def _dtype(self) -> np.dtype:
        names, formats, offsets = [], [], []
        for f in self.fields:
            if f.kind == "pad":
                continue
            base = SCALAR_DTYPES[f.type] if f.kind == "scalar" else self._sub[f.name].dtype
            names.append(f.name)
            formats.append((base, (f.count,)) if f.is_array else base)
            offsets.append(f.offset)
        return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": self.size})

    def column(self, name: str) -> Column:
        """The flattened column `name` (NotFoundError if none)."""
        for c in self.columns:
            if c.name == name:
                return c
        raise NotFoundError("layout '%s': no column '%s'" % (self.name, name), lib.SABRE_ENOENT, "SABRE_ENOENT")

    def column_dtypes(self) -> Dict[str, np.dtype]:
        """Flattened column name -> numpy dtype."""
        return {c.name: c.dtype for c in self.columns}

    def __repr__(self) -> str:
        return "<sabre.Layout %s size=%d align=%d hash=0x%016x>" % (self.name, self.size, self.align, self.hash)


class Schema:
    """A compiled schema (``sabre_schema_compile``).

    Raises :class:`sabre.SchemaError` with ``line`` and ``column`` attributes
    when the text does not compile.
    """

    def __init__(self, text: str) -> None:
        raw = text.encode("utf-8")
        out = ffi.new("sabre_schema_t **")
        err = ffi.new("sabre_schema_error_t *")
        rc = lib.sabre_schema_compile(raw, len(raw), out, err)
        if rc != 0:
            try:
                check(rc)
            except SchemaError as e:
                e.line, e.column = err.line, err.column  # type: ignore[attr-defined]
                e.detail = pystr(err.message)  # type: ignore[attr-defined]
                raise
        self._core = _Core(out[0], lib.sabre_schema_free, None, "schema")
        self.text = text
        self.layouts: List[Layout] = [
            Layout(self._core, lib.sabre_schema_at(out[0], i)) for i in range(lib.sabre_schema_count(out[0]))
        ]

    @property
    def root(self) -> Layout:
        """The last struct defined (the conventional root)."""
        return self.layouts[-1]

    def __getitem__(self, name: str) -> Layout:
        for l in self.layouts:
            if l.name == name:
                return l
        raise NotFoundError("schema: no struct '%s'" % name, lib.SABRE_ENOENT, "SABRE_ENOENT")

    def __iter__(self) -> Iterator[Layout]:
        return iter(self.layouts)

    def __len__(self) -> int:
        return len(self.layouts)

    def __repr__(self) -> str:
        return "<sabre.Schema %s>" % ", ".join(l.name for l in self.layouts)


def layout_hash(canonical: str) -> int:
    """FNV-1a 64 of canonical text (``sabre_layout_hash_text``)."""
    raw = canonical.encode("utf-8")
    return lib.sabre_layout_hash_text(raw, len(raw))


def as_layout(layout: "Optional[Layout | Schema | str]") -> Optional[Layout]:
    """Accept a Layout, a Schema (its root) or schema text (compiled, root)."""
    if layout is None or isinstance(layout, Layout):
        return layout
    if isinstance(layout, Schema):
        return layout.root
    if isinstance(layout, str):
        return Schema(layout).root
    raise TypeError("want a sabre.Layout, sabre.Schema or schema text, got %r" % type(layout).__name__)
