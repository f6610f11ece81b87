// Party identity for pure-JS workers (docs/abi.md, "Parties on
// WebAssembly").  The host gives each Worker {id, gen}: a slot of the wasm
// module's party table and its generation.  Shared owner words hold
// id | gen << 32, the same packing as a native pid | start time; the host
// marks the party dead when the Worker exits, errors or is terminated, and
// the library then treats its pins and claims as a dead process's.
import { fail } from '../errors.js';

export function identity(party, what) {
  if (!party || !Number.isInteger(party.id) || !Number.isInteger(party.gen) || party.id < 2 || party.gen < 1)
    throw fail('SABRE_EINVAL', `${what}: party is ${JSON.stringify(party)}, want {id >= 2, gen >= 1} from the host (sabre.spawnParty / WorkerHost)`);
  return BigInt(party.id) | (BigInt(party.gen) << 32n);
}

// True while (id, gen) is alive in the party table at byte offset `table`.
export function alive(i32, table, owner) {
  const id = Number(owner & 0xffffffffn), gen = Number(owner >> 32n);
  if (id <= 0 || id >= 1024) return false;
  const w = Atomics.load(i32, (table >>> 2) + id) >>> 0;
  return (w & 1) === 1 && (gen === 0 || (w >>> 1) === gen);
}
