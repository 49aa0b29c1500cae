#!/bin/bash
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Run `ansible-test sanity` on the vapor.ops collection.
#
#   scripts/run-sanity.sh                        # every sanity test, then compile and import on every target Python
#   scripts/run-sanity.sh --target-pythons       # only compile and import on every target Python
#   scripts/run-sanity.sh --list-target-pythons  # print the target Pythons (scripts/matrix.py) and stop
#   scripts/run-sanity.sh --test pep8            # extra arguments go to ansible-test (controller Python only)
#   scripts/run-sanity.sh plugins/modules/se_dump.py
#
# Where it runs: in place. ansible-test needs its working directory to be physically inside
# .../ansible_collections/<namespace>/<name>/, and this repository keeps the collection at exactly
# collections/ansible_collections/vapor/ops, so no copy is needed. ansible-test finds the nearest .git by walking
# up from the collection (here: the repository root) and takes its file list from
# `git ls-files --cached --others --exclude-standard` run inside the collection directory. So:
#   - new files are tested even before `git add` (untracked files are listed);
#   - files matched by .gitignore (tests/output/, __pycache__, built tarballs) are not tested;
#   - on a fresh clone (CI) exactly the committed files are tested.
#
# --venv: ansible-test builds one virtualenv per sanity test and Python with its own pinned linters under
# ~/.ansible/test/venv/ (slow the first time, reused afterwards); nothing is installed into .venv.
# Needs network access to PyPI on the first run.
#
# Python versions: every sanity test runs with Python 3.11, the controller Python of this project (Debian 12's).
# Module code runs on targets, from EL9's platform Python 3.9 up: the target Pythons are every Python the
# ansible-test of .venv supports from the collection's tests/config.yml python_requires up (scripts/matrix.py
# targets: 3.9 to 3.13). For each of them the compile and import tests run again with `--python X.Y` (import
# needs `--venv` and the interpreter on PATH as pythonX.Y: pyenv's, under $PYENV_ROOT/versions/X.Y.*/bin, or one
# on PATH). A target Python that is not on the machine is named on one line and not checked; any error fails the
# script, after every version has run.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
COLL="$ROOT/collections/ansible_collections/vapor/ops"
VENV="$ROOT/.venv"
ANSIBLE_TEST="$VENV/bin/ansible-test"

if [ ! -x "$ANSIBLE_TEST" ]; then
    echo "run-sanity: $ANSIBLE_TEST not found; run 'make venv' first." >&2
    exit 2
fi

# ansible-test and the tools it starts must come from the project's venv, not from a system ansible.
export PATH="$VENV/bin:$PATH"
# A user's or the site project's ansible.cfg must not change how the collection is tested.
unset ANSIBLE_CONFIG ANSIBLE_COLLECTIONS_PATH ANSIBLE_COLLECTIONS_PATHS

# pip bootstrap: ansible-test creates its virtualenvs without pip and runs a get-pip.py script downloaded from
# ci-files.testing.ansible.com, which is not reachable from here (only PyPI is). If no bootstrap script is cached
# yet, cache our stand-in (scripts/ansible-test-get-pip.py: ensurepip + pip install of the requested pip version
# from PyPI), and refresh a cached older copy of it. A real get-pip.py already in the cache is left alone.
cache_get_pip() {  # cache_get_pip X.Y
    local pip_version get_pip_cache
    pip_version=$("$VENV/bin/python" -c '
import sys, types
from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(types.SimpleNamespace(version=sys.argv[1]))["pip"])' "$1")
    get_pip_cache="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
    if [ ! -s "$get_pip_cache" ] || { grep -q '^"""Stand-in for the get-pip.py bootstrap script' "$get_pip_cache" \
            && ! cmp -s "$ROOT/scripts/ansible-test-get-pip.py" "$get_pip_cache"; }; then
        mkdir -p "$(dirname "$get_pip_cache")"
        cp "$ROOT/scripts/ansible-test-get-pip.py" "$get_pip_cache"
        echo "run-sanity: cached pip bootstrap stand-in as $get_pip_cache" >&2
    fi
}

CONTROLLER_PYTHON=3.11
targets=$("$VENV/bin/python" "$ROOT/scripts/matrix.py" targets)

mode=all
case "${1:-}" in
    --list-target-pythons) echo "$targets"; exit 0 ;;
    --target-pythons) mode=targets; shift ;;
esac
if [ "$#" -gt 0 ]; then
    if [ "$mode" = targets ]; then
        echo "run-sanity: --target-pythons takes no further arguments" >&2
        exit 2
    fi
    mode=controller
fi

skip=()
# pslint lints PowerShell modules with PSScriptAnalyzer under pwsh. The collection has no PowerShell content and
# pwsh is not packaged in Debian, so the test would only be skipped with a warning; skip it explicitly.
skip+=(--skip-test pslint)
# The shellcheck test needs the `shellcheck` binary (Debian package "shellcheck"). Without it ansible-test would
# skip the test with a warning that is easy to miss; say so loudly instead.
if ! command -v shellcheck >/dev/null 2>&1; then
    echo "run-sanity: NOTE: shellcheck is not installed (apt-get install shellcheck); skipping the shellcheck test." >&2
    skip+=(--skip-test shellcheck)
fi

cd "$COLL"
failed=()
absent=()

if [ "$mode" != targets ]; then
    cache_get_pip "$CONTROLLER_PYTHON"
    if [ "$mode" = controller ]; then
        exec "$ANSIBLE_TEST" sanity --venv --python "$CONTROLLER_PYTHON" --color no -v "${skip[@]}" "$@"
    fi
    "$ANSIBLE_TEST" sanity --venv --python "$CONTROLLER_PYTHON" --color no -v "${skip[@]}" \
        || failed+=("every sanity test on Python $CONTROLLER_PYTHON")
fi

# The target Pythons, as pythonX.Y on PATH: a directory of links to pyenv's interpreters (only these names, so
# pyenv's python3, pip, ... do not shadow the venv's), after the venv's bin (whose python3.11 is the controller's).
links=$(mktemp -d "${TMPDIR:-/tmp}/vapor-sanity-pythons.XXXXXX")
trap 'rm -rf "$links"' EXIT
pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
for v in $targets; do
    found=
    for cand in "$pyenv_root"/versions/"$v".*/bin/python"$v"; do
        if [ -x "$cand" ]; then
            found=$cand
        fi
    done
    if [ -n "$found" ]; then
        ln -s "$found" "$links/python$v"
    fi
done
export PATH="$VENV/bin:$links:$PATH"

for v in $targets; do
    if [ "$mode" = all ] && [ "$v" = "$CONTROLLER_PYTHON" ]; then
        echo "run-sanity: Python $v: compile and import checked by the full run above"
        continue
    fi
    interp=$(command -v "python$v" || true)
    # a pythonX.Y that is a pyenv shim of a version not installed, or anything else that is not Python X.Y, is absent
    if [ -z "$interp" ] || [ "$("$interp" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" != "$v" ]
    then
        echo "run-sanity: Python $v: not on this machine, compile/import not checked"
        absent+=("$v")
        continue
    fi
    echo "run-sanity: Python $v ($(readlink -f "$interp")): compile and import"
    cache_get_pip "$v"
    "$ANSIBLE_TEST" sanity --venv --python "$v" --color no -v --test compile --test import \
        || failed+=("compile/import on Python $v")
done

if [ "${#failed[@]}" -gt 0 ]; then
    printf 'run-sanity: FAILED: %s\n' "${failed[@]}" >&2
    exit 1
fi
echo "run-sanity: passed (target Pythons: $targets${absent[*]:+; not on this machine, not checked: ${absent[*]}})"
