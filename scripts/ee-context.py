#!/usr/bin/env python3
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Write the build context of the sample execution environment (EE) with `ansible-builder create`.

    scripts/ee-context.py [--dist DIR] [--output DIR]

Does what a site does before `ansible-builder build`, short of the image build (this machine has no container
engine and cannot reach a container registry): puts the collection's sample EE definition
(docs/execution-environment.yml) and the tarball that `ansible-galaxy collection build` made
(DIR/vapor-ops-<version>.tar.gz; `make build` writes it to dist/) side by side in OUTPUT/definition/, then runs
`ansible-builder create`, which writes the Containerfile and its _build/ directory to OUTPUT/context/. Prints that
path. OUTPUT defaults to a new temporary directory; an existing OUTPUT is emptied first.
tests/test_execution_environment.py checks what comes out.
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
COLLECTION = REPO / "collections" / "ansible_collections" / "vapor" / "ops"
SAMPLE = COLLECTION / "docs" / "execution-environment.yml"


def tarball_name():
    """vapor-ops-<version>.tar.gz, the name `ansible-galaxy collection build` gives the collection's tarball."""
    meta = yaml.safe_load((COLLECTION / "galaxy.yml").read_text())
    return "%s-%s-%s.tar.gz" % (meta["namespace"], meta["name"], meta["version"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, default=REPO / "dist",
                        help="directory holding the built collection tarball (default: dist/)")
    parser.add_argument("--output", type=Path, help="where to write definition/ and context/ (default: a new "
                        "temporary directory)")
    args = parser.parse_args(argv)

    tarball = args.dist / tarball_name()
    if not tarball.is_file():
        sys.exit("%s: no such file; build the collection first (make build)" % tarball)
    if args.output is None:
        output = Path(tempfile.mkdtemp(prefix="vapor-ee-"))
    else:
        output = args.output
        if output.exists():
            shutil.rmtree(output)
    definition = output / "definition"
    context = output / "context"
    definition.mkdir(parents=True)
    shutil.copy2(SAMPLE, definition / SAMPLE.name)
    shutil.copy2(tarball, definition / tarball.name)

    # ansible-builder from the same environment as this Python (the project's .venv under make).
    proc = subprocess.run(
        [sys.executable, "-m", "ansible_builder", "create", "--file", str(definition / SAMPLE.name),
         "--context", str(context), "--output-filename", "Containerfile"],
        capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit("ansible-builder create failed (exit %d):\n%s%s" % (proc.returncode, proc.stdout, proc.stderr))
    if not (context / "Containerfile").is_file():
        sys.exit("ansible-builder create wrote no %s\n%s%s" % (context / "Containerfile", proc.stdout, proc.stderr))
    print(context)
    return 0


if __name__ == "__main__":
    sys.exit(main())
