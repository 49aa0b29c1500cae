#!/bin/bash
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Run `ansible-test sanity` on the vapor.ops collection.
#
#   scripts/run-sanity.sh                        # every sanity test
#   scripts/run-sanity.sh --test pep8            # extra arguments go to ansible-test
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
# --venv: ansible-test builds one virtualenv per sanity test with its own pinned linters under
# ~/.ansible/test/venv/ (slow the first time, reused afterwards); nothing is installed into .venv.
# Needs network access to PyPI on the first run.
#
# Python versions: only 3.11 is tested (--python 3.11), the controller Python of this project and the only
# Python Debian 12 has. Module code also targets Python 3.9 (EL9, see tests/config.yml), but the compile and import
# tests cannot run for 3.9/3.10 here; pylint checks module_utils with --py-version 3.8 instead.
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
# from PyPI). A real get-pip.py already in the cache is left alone.
pip_version=$("$VENV/bin/python" -c '
import types
from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(types.SimpleNamespace(version="3.11"))["pip"])')
get_pip_cache="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
if [ ! -s "$get_pip_cache" ]; then
    mkdir -p "$(dirname "$get_pip_cache")"
    cp "$ROOT/scripts/ansible-test-get-pip.py" "$get_pip_cache"
    echo "run-sanity: cached pip bootstrap stand-in as $get_pip_cache" >&2
fi

skip=()
# pslint lints PowerShell modules with PSScriptAnalyzer under pwsh. The collection has no PowerShell content and
# pwsh is not packaged in Debian, so the test would only be skipped with a warning; skip it explicitly.
skip+=(--skip-test pslint)
# shellcheck needs the `shellcheck` binary (Debian package "shellcheck"). Without it ansible-test would skip the
# test with a warning that is easy to miss; say so loudly instead.
if ! command -v shellcheck >/dev/null 2>&1; then
    echo "run-sanity: NOTE: shellcheck is not installed (apt-get install shellcheck); skipping the shellcheck test." >&2
    skip+=(--skip-test shellcheck)
fi

cd "$COLL"
exec "$ANSIBLE_TEST" sanity --venv --python 3.11 --color no -v "${skip[@]}" "$@"
