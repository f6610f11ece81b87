import re

import numpy as np
import pytest

import sabre
from conftest import SRC_ROOT

BULLET = """
struct Pos { x: f32; y: f32; }
struct Bullet { pos: Pos; vel: Pos; life: f32; tags: u8[4]; _: pad[4]; }
"""


def golden_vectors():
    with open(SRC_ROOT + "/docs/schema.md", encoding="utf-8") as f:
        text = f.read()
    rows = re.findall(r"^\| \d+ \| `([^`]*)` \| `(0x[0-9a-f]{16})` \| (\d+) / (\d+) \|$", text, re.M)
    assert len(rows) >= 10
    return rows


@pytest.mark.parametrize("canonical,hash_,size,align", golden_vectors())
def test_schema_golden_vectors_compile_to_their_hash(canonical, hash_, size, align):
    lay = sabre.Schema(canonical).root
    assert lay.canonical == canonical
    assert lay.hash == int(hash_, 16)
    assert sabre.layout_hash(canonical) == int(hash_, 16)
    assert (lay.size, lay.align) == (int(size), int(align))
    assert lay.dtype.itemsize == lay.size


def test_schema_column_dtypes_follow_the_layout():
    lay = sabre.Schema(BULLET).root
    names = [c.name for c in lay.columns]
    assert names == ["pos_x", "pos_y", "vel_x", "vel_y", "life", "tags_0", "tags_1", "tags_2", "tags_3"]
    assert lay.column("life").dtype == np.float32
    assert lay.column("tags_2").dtype == np.uint8
    assert lay.column("tags_2").offset == 22
    assert set(lay.column_dtypes().values()) == {np.dtype(np.float32), np.dtype(np.uint8)}


def test_schema_every_scalar_type_has_its_numpy_dtype():
    lay = sabre.Schema("struct T{a:i8;b:u8;c:i16;d:u16;e:i32;f:u32;g:f32;h:i64;i:u64;j:f64;k:bool;}").root
    want = ["i1", "u1", "i2", "u2", "i4", "u4", "f4", "i8", "u8", "f8", "?"]
    assert [c.dtype for c in lay.columns] == [np.dtype(w) for w in want]


def test_schema_row_dtype_matches_offsets_nesting_and_padding():
    lay = sabre.Schema(BULLET).root
    dt = lay.dtype
    assert dt.itemsize == 28
    assert dt.names == ("pos", "vel", "life", "tags")  # padding is a gap, not a field
    assert dt.fields["vel"][1] == 8 and dt.fields["tags"][1] == 20
    assert dt["pos"].names == ("x", "y")
    assert dt["tags"].shape == (4,)
    # A value packed with the row dtype lands where the flattened columns say.
    row = np.zeros(1, dt)
    row["vel"]["y"] = 2.5
    row["tags"][0, 3] = 7
    raw = row.view(np.uint8)
    assert raw[lay.column("vel_y").offset : lay.column("vel_y").offset + 4].view(np.float32)[0] == 2.5
    assert raw[lay.column("tags_3").offset] == 7


def test_schema_arrays_of_structs_keep_their_stride():
    lay = sabre.Schema("struct V{x:f32;y:f32;}struct P{p:V;flag:u8;}struct W{a:u8;ps:P[2];z:f64;}").root
    dt = lay.dtype
    assert dt.itemsize == 40
    assert dt["ps"].shape == (2,) and dt["ps"].base.itemsize == 12
    assert dt.fields["z"][1] == 32


def test_schema_error_carries_status_line_and_column():
    with pytest.raises(sabre.SchemaError) as ei:
        sabre.Schema("struct A {\n  x = f32;\n}")
    e = ei.value
    assert e.status == sabre.lib.SABRE_ESCHEMA and e.name == "SABRE_ESCHEMA"
    assert (e.line, e.column) == (2, 5)
    assert "expected ':'" in str(e)
    assert isinstance(e, sabre.SabreError)


def test_schema_lookup_by_name_and_unknown_name():
    s = sabre.Schema(BULLET)
    assert s["Pos"].size == 8 and s.root.name == "Bullet" and len(s) == 2
    with pytest.raises(sabre.NotFoundError):
        s["Nope"]
    with pytest.raises(sabre.NotFoundError):
        s.root.column("nope")


def test_schema_layouts_outlive_their_schema_object():
    lay = sabre.Schema(BULLET).root  # the Schema object itself is gone now
    import gc

    gc.collect()
    assert lay.columns[0].name == "pos_x" and lay.canonical.startswith("struct Pos")
