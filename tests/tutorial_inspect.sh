#!/bin/sh
# docs/tutorial.md, part 3: the trainer leaves its region for `sabre inspect`,
# whose text and JSON show the ring and the weights as the tutorial says.
#     tutorial_inspect.sh EXAMPLE_TUTORIAL_RL SABRE_TOOL
set -eu
prog=$1 tool=$2
name=sabre-tut-test-$$
trap 'rm -f /dev/shm/$name' EXIT
"$prog" "$name" 10
"$tool" inspect "/$name" >"/tmp/$name.txt"
grep -q "produced 30, consumed 30, dropped 0" "/tmp/$name.txt"
grep -q "payload stride" "/tmp/$name.txt"
grep -q "in slot .* of 5" "/tmp/$name.txt"
"$tool" inspect "/$name" --json >"/tmp/$name.json"
/usr/bin/python3 - "/tmp/$name.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
objs = {o["name"]: o for o in d["objects"]}
ring, w = objs["rollouts"]["state"], objs["policy"]["state"]
assert ring["produced"] == 30 and ring["consumed"] == 30, ring
assert ring["lag"]["count"] == 30 and ring["lag_recent"] is None, ring
assert [f["name"] for f in ring["fields"]] == ["obs", "act", "rew", "done"], ring["fields"]
assert w["slots"] == 5 and w["publish_waits"] == 0 and w["version"] >= 2, w
assert w["readers"] == [], w  # the actors closed their readers
print("tutorial_inspect: ok")
PY
rm -f "/tmp/$name.txt" "/tmp/$name.json"
