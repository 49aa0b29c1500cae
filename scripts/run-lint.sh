#!/bin/bash
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Run the project's linters (`make lint`; `make test` runs it after the unit tests):
#   reuse lint                 licensing of every file git lists (REUSE.toml, LICENSES/, file headers)
#   yamllint                   every YAML file of the repository (.yamllint)
#   ansible-lint               production profile: the collection (role, metadata, changelog) and the site
#                              project's playbooks/ and inventories/ (.ansible-lint)
#   antsibull-changelog lint   the collection's changelog configuration and fragments
# Each runs even when an earlier one failed; the script fails when any did, naming them.
# The tools come from .venv (requirements-lint.txt), else from PATH.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
COLL="$ROOT/collections/ansible_collections/vapor/ops"
export PATH="$ROOT/.venv/bin:$PATH"
# the site project's configuration: collections_path and roles_path point into the tree
export ANSIBLE_CONFIG="$ROOT/ansible.cfg"
unset ANSIBLE_COLLECTIONS_PATH ANSIBLE_COLLECTIONS_PATHS ANSIBLE_ROLES_PATH

missing=()
for tool in reuse yamllint ansible-lint antsibull-changelog; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "run-lint: not installed: ${missing[*]}; run 'make venv' (requirements-lint.txt)." >&2
    exit 2
fi

failed=()
step() {
    local name=$1
    shift
    echo "run-lint: $name"
    if ! "$@"; then
        failed+=("$name")
    fi
}

cd "$ROOT"
step "reuse lint" reuse lint --lines
step "yamllint" yamllint --strict .
step "ansible-lint" ansible-lint
step "antsibull-changelog lint" bash -c 'cd "$1" && antsibull-changelog lint' _ "$COLL"

if [ ${#failed[@]} -gt 0 ]; then
    echo "run-lint: FAILED: ${failed[*]}" >&2
    case " ${failed[*]} " in
        *" reuse lint "*)
            echo "run-lint: a file without licensing information: give code the header of the other files (see" \
                 "REUSE.toml), or cover a data file's kind in REUSE.toml." >&2 ;;
    esac
    exit 1
fi
echo "run-lint: all clean (reuse, yamllint, ansible-lint, antsibull-changelog)"
