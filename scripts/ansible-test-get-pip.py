# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Stand-in for the get-pip.py bootstrap script that ansible-test downloads.

ansible-test (``--venv``) creates each virtual environment without pip and then runs a get-pip.py script that it
fetches from https://ci-files.testing.ansible.com/ansible-test/get-pip-<version>.py and caches as
``~/.ansible/test/cache/get_pip_<version>.py``. Where that host cannot be reached (only PyPI is), scripts/run-sanity.sh
puts this file in the cache instead. It is run the same way as get-pip.py, by the Python of the new virtual
environment, with pip-install arguments such as::

    --disable-pip-version-check pip==24.2 --no-setuptools --no-wheel

It installs the pip bundled with the interpreter (ensurepip, from the Debian package python3-venv), upgrades it to
the requested version from the package index, and honours get-pip.py's ``--no-setuptools`` / ``--no-wheel`` by
leaving those packages out, so the environment ends up as ansible-test expects.
"""

import ensurepip
import os
import subprocess
import sys

GET_PIP_ONLY = ("--no-setuptools", "--no-wheel")


def main():
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY]

    # ensurepip deletes every PIP_* variable and sets PIP_CONFIG_FILE=/dev/null in this process, so the site's pip
    # configuration (its certificate bundle, index and wheel directories) would not reach the pip runs below: a pip
    # bundled with the interpreter that does not use the system's certificates (pyenv's 3.12) then cannot reach the
    # index through a TLS-inspecting proxy. The pip runs get the environment as it was before.
    env = dict(os.environ)
    ensurepip.bootstrap(upgrade=True)
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet"] + args, env=env)

    # ensurepip of Python < 3.12 also installs setuptools, which get-pip.py --no-setuptools would not have done.
    # (ensurepip never installs wheel, so --no-wheel needs nothing.)
    if "--no-setuptools" in sys.argv[1:] and sys.version_info < (3, 12):
        subprocess.check_call([sys.executable, "-m", "pip", "uninstall", "--quiet", "--yes", "setuptools"], env=env)


if __name__ == "__main__":
    main()
