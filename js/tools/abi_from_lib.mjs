// abi_from_lib.mjs - js/src/abi.json from the library's own description of
// its binary interface (`sabre abi --json`, sabre_abi_json()): read on stdin,
// reshaped for the pure-JS workers (field maps name -> offset, the constants
// they use under short names), written to stdout.  scripts/wasm.sh runs it
// and fails when the committed js/src/abi.json differs.
const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const lib = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const need = (v, what) => { if (v === undefined) throw new Error(`sabre abi --json has no ${what}`); return v; };
const obj = (k) => need(lib.objects[k], `objects.${k}`);
const en = (e, k) => need(lib.enums[e]?.[k], `enums.${e}.${k}`);
const num = (hex) => Number(BigInt(hex));

const structs = {};
const rename = { ring_chunk_header: 'ring_chunk', ring_slot: 'ring_meta', colset_component: 'colset_comp', colset_column: 'colset_col' };
for (const [name, s] of Object.entries(lib.structs)) {
  structs[rename[name] || name] = { size: s.size, fields: Object.fromEntries(s.fields.map((f) => [f.name, f.offset])) };
}
const sizes = { f32: 4, f64: 8, i8: 1, u8: 1, i16: 2, u16: 2, i32: 4, u32: 4, i64: 8, u64: 8, bool: 1 };
const scalars = {};
for (const [k, id] of Object.entries(lib.enums.sabre_scalar_t)) {
  const n = k.replace(/^SABRE_/, '').toLowerCase();
  if (sizes[n]) scalars[n] = { id, size: sizes[n] };
}
const kinds = {};
for (const [k, v] of Object.entries(lib.enums.sabre_object_kind_t)) if (k !== 'SABRE_OBJ_USER') kinds[k.replace(/^SABRE_OBJ_/, '').toLowerCase()] = v;

const out = {
  generator: 'sabre abi --json | node js/tools/abi_from_lib.mjs',
  constants: {
    REGION_MAGIC: obj('region').magic, REGION_ABI_MAJOR: obj('region').major, REGION_ABI_MINOR: obj('region').minor,
    REGION_HEADER_SIZE: need(lib.constants.HDR_SIZE, 'HDR_SIZE'), DIR_ENTRY_SIZE: need(lib.constants.ENTRY_SIZE, 'ENTRY_SIZE'),
    DIR_READY: en('sabre_slot_state_t', 'SABRE_SLOT_READY'), DIR_EMPTY: en('sabre_slot_state_t', 'SABRE_SLOT_EMPTY'),
    WASM_REGDIR_MAGIC_LO: need(lib.constants.WASM_REGDIR_MAGIC_LO, 'WASM_REGDIR_MAGIC_LO'),
    WASM_REGDIR_ENTRIES: need(lib.constants.WASM_REGDIR_ENTRIES, 'WASM_REGDIR_ENTRIES'),
    WASM_REGDIR_NAMED: need(lib.constants.WASM_REGDIR_NAMED, 'WASM_REGDIR_NAMED'),
    WEIGHTS_MAGIC: num(obj('weights').magic), WEIGHTS_ABI_MAJOR: obj('weights').major,
    RING_MAGIC: num(obj('ring').magic), RING_ABI_MAJOR: obj('ring').major,
    RING_LANES: en('sabre_ring_shape_t', 'SABRE_RING_LANES'), RING_MPSC: en('sabre_ring_shape_t', 'SABRE_RING_MPSC'),
    RING_DROP_NEWEST: en('sabre_ring_policy_t', 'SABRE_RING_DROP_NEWEST'), RING_BLOCK: en('sabre_ring_policy_t', 'SABRE_RING_BLOCK'),
    RING_OVERWRITE_OLDEST: en('sabre_ring_policy_t', 'SABRE_RING_OVERWRITE_OLDEST'),
    RING_BATCH_MAX: need(lib.constants.SABRE_RING_BATCH_MAX, 'SABRE_RING_BATCH_MAX'),
    // docs/abi.md, ring "Padding": claim_rest 0x8000 | (count - 1), claim_end 2^63 | end.
    RING_PAD: 0x8000, RING_END_PAD: '0x8000000000000000',
    COLSET_CHUNK_MAGIC: obj('table_chunk').magic, COLSET_SNAP_MAGIC: obj('snapshot').magic,
    COLSET_MAJOR: obj('snapshot').major,
    COLSET_MAX_COMPS: need(lib.constants.SABRE_COLSET_MAX_COMPS, 'SABRE_COLSET_MAX_COMPS'),
    COLSET_MAX_COLS: need(lib.constants.SABRE_COLSET_MAX_COLS, 'SABRE_COLSET_MAX_COLS'),
  },
  status: lib.status,
  kinds,
  scalars,
  structs,
};
process.stdout.write(JSON.stringify(out, null, 2) + '\n');
