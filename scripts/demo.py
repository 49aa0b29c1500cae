#!/usr/bin/env python3
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""make demo: the main job on the embedded default (inventories/demo, localhost, SQLite catalog, local storage).

1. builds a small storage tree (demo-output/storage/vo) and a SQLite catalog (demo-output/catalog.db) with a known
   mix of files: consistent, dark (on storage only), lost (in the catalog only), too young, ignored;
2. runs playbooks/storage_dump.yml: the site publishes a storage dump;
3. runs playbooks/consistency_check.yml: catalog dump -> scan -> catalog dump -> compare;
4. runs playbooks/package_report.yml: a package report of this machine, filtered, saved to a file (nothing sent);
5. prints where the dump, the lists and the report are, with their counts.

Safe to run again: the tree and the catalog are rebuilt the same way; the storage dump is unchanged, and every
consistency run is recorded as a new run (that is what the multi-run confirmation of dark data counts).
"""
import json
import os
import shutil
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(REPO, 'demo-output')
VO = os.path.join(DEMO, 'storage', 'vo')
CATALOG = os.path.join(DEMO, 'catalog.db')
SE = 'se.demo.example'
SFN = 'srm://%s:8446/srm/managerv2?SFN=/vo' % SE
OLD = 1767225600                 # 2026-01-01: fixed, so a second demo run finds the storage unchanged

CONSISTENT = {
    'store/mc/run1/evt_0001.root': 1200,
    'store/mc/run1/evt_0002.root': 800,
    'store/mc/run2/evt_0001.root': 4000,
    'store/data/2026/raw_0001.root': 2500,
    'store/data/2026/raw_0002.root': 2500,
    'store/data/2026/raw_0003.root': 2500,
    'store/user/alice/with space.root': 10,
    u'store/user/bob/résumé.root': 20,
}
DARK = {'store/mc/run1/orphan_0001.root': 300, 'store/user/carol/forgotten.root': 40}   # on storage only
LOST = {'store/data/2026/raw_0004.root': 2500}                                          # in the catalog only
IGNORED = {'store/temp/transfer_0001.part': 99}        # ignored by the pattern ^/store/temp/ (never dark)
YOUNG = {'store/mc/run3/evt_new.root': 50}             # modified now, not yet catalogued: too young to be dark


def write(vo, rel, size, mtime):
    p = os.path.join(vo, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    if not os.path.exists(p) or os.path.getsize(p) != size:
        with open(p, 'wb') as f:
            f.write(b'\0' * size)
    if mtime is not None:
        os.utime(p, (mtime, mtime))


def build(demo=DEMO):
    """Seed the demo's storage tree and catalog under ``demo`` (vapor_demo_dir of inventories/demo)."""
    for files, mtime in ((CONSISTENT, OLD), (DARK, OLD), (IGNORED, OLD), (YOUNG, None)):
        for rel, size in files.items():
            write(os.path.join(demo, 'storage', 'vo'), rel, size, mtime)
    os.makedirs(os.path.join(demo, 'dumps'), exist_ok=True)
    os.makedirs(os.path.join(demo, 'packages'), exist_ok=True)
    if os.path.join(REPO, 'collections') not in sys.path:
        sys.path.insert(0, os.path.join(REPO, 'collections'))
    from ansible_collections.vapor.ops.plugins.module_utils._catalog.access import open_catalog
    from ansible_collections.vapor.ops.plugins.module_utils._catalog.schema import create_sqlite_catalog
    catalog = os.path.join(demo, 'catalog.db')
    tmp = catalog + '.new'
    if os.path.exists(tmp):
        os.unlink(tmp)
    create_sqlite_catalog(tmp)
    cat = open_catalog({'backend': 'sqlite', 'path': tmp})
    try:
        dn = '/DC=org/DC=example/CN=Demo User'
        cat.add_user(dn)
        cat.add_group('vo')
        for rel, size in sorted(list(CONSISTENT.items()) + list(LOST.items())):
            cat.register_file('/grid/vo/' + rel, size, mtime=OLD, replicas=[(SE, '%s/%s' % (SFN, rel), '-')],
                              owner_dn=dn, group='vo')
    finally:
        cat.close()
    os.rename(tmp, catalog)


def ansible_playbook(playbook, *args):
    exe = os.path.join(REPO, '.venv', 'bin', 'ansible-playbook')
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, 'ansible.cfg'))
    cmd = [exe, '-i', os.path.join(REPO, 'inventories', 'demo'), os.path.join(REPO, 'playbooks', playbook)]
    return subprocess.call(cmd + list(args), cwd=REPO, env=env)


def newest_run():
    runs = os.path.join(DEMO, 'consistency', SE, 'runs')
    names = sorted(n for n in os.listdir(runs) if not n.startswith('.') and not n.endswith('.failed'))
    return os.path.join(runs, names[-1])


def lines(path):
    with open(path, 'rb') as f:
        return f.read().decode('utf-8').splitlines()


def main():
    build()
    print('Demo storage tree: %s\nDemo catalog (SQLite, LFC schema): %s\n' % (VO, CATALOG))
    for playbook in ('storage_dump.yml', 'consistency_check.yml', 'package_report.yml'):
        rc = ansible_playbook(playbook)
        if rc:
            print('The demo playbook %s failed (exit %d).' % (playbook, rc), file=sys.stderr)
            return rc
    from ansible_collections.vapor.ops.plugins.module_utils._dump.reader import read_dump
    latest = os.path.join(DEMO, 'dumps', 'latest')
    entries = list(read_dump(latest))
    run = newest_run()
    with open(os.path.join(run, 'stats.json')) as f:
        stats = json.load(f)
    print('')
    print('Storage dump published by the site: %s' % os.path.realpath(latest))
    print('  files: %d, bytes: %d' % (len(entries), sum(e.size or 0 for e in entries)))
    print('Consistency run: %s' % run)
    for name in ('dark.list', 'lost.list', 'confirmed_dark.list'):
        got = lines(os.path.join(run, name))
        print('  %-20s %d  %s' % (name, len(got), ', '.join(got)))
    print('  stats.json: %s' % json.dumps(stats.get('counts', {}), sort_keys=True))
    report = os.path.join(DEMO, 'packages', 'localhost.report')
    with open(report, 'rb') as f:
        body = f.read().decode('utf-8', 'replace').split('\n')
    packages = [ln for ln in body[body.index('#', 1) + 1:] if ln and ln != '#'] if body.count('#') > 1 else []
    print('Package report of this machine (Pakiti protocol 5, mode %o, not sent): %s'
          % (os.stat(report).st_mode & 0o777, report))
    print('  packages reported: %d (filter: inventories/demo/group_vars/packages.yml); headers: %s'
          % (len(packages), ', '.join(ln.split(':')[0] for ln in body[1:body.index('#', 1)])))
    print('\nNext (after dark files are confirmed over %s runs spanning %s days):'
          % (stats.get('confirmation', {}).get('confirm_runs', 3), stats.get('confirmation', {}).get('confirm_days', 25)))
    print('  .venv/bin/ansible-playbook -i inventories/demo playbooks/dark_data_cleanup.yml -e consistency_run=%s --check'
          % run)
    print('  .venv/bin/ansible-playbook -i inventories/demo playbooks/catalog_cleanup.yml -e consistency_run=%s --check'
          % run)
    return 0


if __name__ == '__main__':
    sys.exit(main())
