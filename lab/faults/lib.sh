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

# change SERVICE KIND VERSION SUMMARY: what a CI/CD pipeline posts to
# `inquest serve` after a rollout (POST /v1/changes); the lab has no
# Kubernetes API, so this is its change timeline. A warning if serve is down.
change() {
  local body
  body=$(python3 -c 'import json,sys; s,k,v,m=sys.argv[1:]; c={"service": s, "kind": k, "summary": m, "author": "lab-pipeline"}; c.update({"version": v} if v else {}); print(json.dumps(c))' "$@")
  curl -fsS -m 5 -H 'Content-Type: application/json' -d "$body" "http://${LAB_SERVE:-127.0.0.1:19797}/v1/changes" >/dev/null \
    || echo "fault: could not post the change to inquest serve at ${LAB_SERVE:-127.0.0.1:19797}" >&2
}

# herring FAULT SERVICE KIND NOTE: something that happens but breaks nothing,
# recorded as such (never a truth to grade against).
herring() {
  local at; at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  printf '{"fault": "%s", "herring": true, "service": "%s", "kind": "%s", "at": "%s", "note": "%s"}\n' "$1" "$2" "$3" "$at" "$4" \
    | tee "$STATE/truth/$1.json"
}
