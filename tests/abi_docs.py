#!/usr/bin/env python3
"""Checks the byte-layout tables of docs/abi.md against the library's own
description of its ABI (`sabre abi --json`, computed with sizeof/offsetof).

Every table row whose first cell is an offset and whose third cell names a
field is compared: the field must exist in the struct the section describes,
at that offset, with the size the type cell gives.  Every field the library
exports must appear in its section.  Usage: abi_docs.py SABRE_TOOL ABI_MD
"""
import json
import re
import subprocess
import sys

# docs/abi.md heading (prefix) -> struct name in the export.  Headings are
# matched in document order; the ECS "Header" is the column-set header.
SECTIONS = [
    ("Region header", "region_header"),
    ("Directory entry", "dir_entry"),
    ("Region name directory (WebAssembly", "wasm_region_dir"),
    ("Region name entry (WebAssembly", "wasm_region_dir_entry"),
    ("Mailbox header", "mailbox_header"),
    ("Mailbox slot", "mailbox_slot"),
    ("Vecenv header", "vecenv_header"),
    ("Vecenv worker block", "vecenv_worker"),
    ("Header (256 bytes)", "colset_header"),
    ("Component entry", "colset_component"),
    ("Column entry", "colset_column"),
    ("Weights header", "weights_header"),
    ("Slot record (64 bytes", "weights_slot"),
    ("Reader record", "weights_reader"),
    ("Ring header", "ring_header"),
    ("Field record", "ring_field"),
    ("Lane", "ring_lane"),
    ("Producer record", "ring_producer"),
    ("Chunk header", "ring_chunk_header"),
    ("Slot record (32 bytes", "ring_slot"),
    ("Episode lane", "ring_episode_lane"),
    ("Episode record", "ring_episode"),
    ("Bridge header", "bridge_header"),
    ("Lane entry", "bridge_lane"),
    ("Peer record", "bridge_peer"),
]
SIZES = {"u8": 1, "i8": 1, "u16": 2, "i16": 2, "u32": 4, "i32": 4, "u64": 8, "i64": 8,
         "f32": 4, "f64": 8}


def type_size(cell):
    cell = cell.strip()
    if cell in SIZES:
        return SIZES[cell]
    m = re.fullmatch(r"(char|u8|i8)\[(\d+)\]", cell)
    if m:
        return int(m.group(2))
    m = re.fullmatch(r"(\d+) bytes", cell)
    if m:
        return int(m.group(1))
    return None


def main():
    tool, md = sys.argv[1], sys.argv[2]
    abi = json.loads(subprocess.run([tool, "abi", "--json"], check=True,
                                    capture_output=True, text=True).stdout)
    structs = abi["structs"]
    errors = []
    seen = {}
    current = None
    checked = 0
    for lineno, line in enumerate(open(md, encoding="utf-8"), 1):
        if line.startswith("#"):
            title = line.lstrip("#").strip()
            current = None
            for prefix, name in SECTIONS:
                if title.startswith(prefix) and name not in seen:
                    current = name
                    seen[name] = set()
                    break
            continue
        if current is None or not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not re.fullmatch(r"\d+", cells[0]):
            continue
        off = int(cells[0])
        names = re.findall(r"`(\w+)`", cells[2]) or re.findall(r"^(\w+)$", cells[2])
        if not names or names[0] in ("reserved", "padding"):
            continue
        fields = {f["name"]: f for f in structs[current]["fields"]}
        types = [t.strip() for t in cells[1].split(",")]
        for i, nm in enumerate(names):
            f = fields.get(nm)
            if f is None:
                errors.append(f"docs/abi.md:{lineno}: {current} has no field '{nm}'")
                continue
            want = off + sum(type_size(t) or 0 for t in types[:i])
            if f["offset"] != want:
                errors.append(f"docs/abi.md:{lineno}: {current}.{nm} is at {f['offset']}, "
                              f"the document says {want}")
            ts = type_size(types[min(i, len(types) - 1)])
            if ts is not None and ts != f["size"]:
                errors.append(f"docs/abi.md:{lineno}: {current}.{nm} is {f['size']} bytes, "
                              f"the document says {ts}")
            seen[current].add(nm)
            checked += 1
    for _, name in SECTIONS:
        if name not in seen:
            errors.append(f"docs/abi.md: no section for {name}")
            continue
        missing = [f["name"] for f in structs[name]["fields"] if f["name"] not in seen[name]]
        if missing:
            errors.append(f"docs/abi.md: {name} does not document {', '.join(missing)}")
    for e in errors:
        print(e)
    print(f"abi_docs: {checked} documented fields checked against the library, "
          f"{len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
