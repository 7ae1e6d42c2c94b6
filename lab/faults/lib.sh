# Shared by the fault scripts: where the lab keeps its state, and how a fault
# records its truth (service, kind from inquest's taxonomy, start time).
set -euo pipefail
STATE="${LAB_STATE:-/tmp/inquest-lab}"
[[ -d "$STATE/control" ]] || { echo "fault: the lab is not up (no $STATE/control); run lab/run up" >&2; exit 2; }

# ctl FILE JSON: merge keys into a control file the services re-read every second.
ctl() {
  python3 - "$STATE/$1" "$2" <<'PY'
import json, os, sys
path, patch = sys.argv[1], json.loads(sys.argv[2])
try:
    cur = json.load(open(path))
except (FileNotFoundError, ValueError):
    cur = {}
for k, v in patch.items():
    if isinstance(v, dict) and isinstance(cur.get(k), dict):
        cur[k].update(v)
    else:
        cur[k] = v
tmp = path + ".tmp"
with open(tmp, "w") as f:
    json.dump(cur, f)
os.replace(tmp, path)
PY
}

# truth FAULT SERVICE KIND NOTE: what was broken, for capture and for grading.
truth() {
  local at; at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  printf '{"fault": "%s", "service": "%s", "kind": "%s", "at": "%s", "note": "%s"}\n' "$1" "$2" "$3" "$at" "$4" \
    | tee "$STATE/truth/$1.json"
}
