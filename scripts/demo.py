#!/usr/bin/env python3
"""make demo: build a small storage tree and run the main job on inventories/demo.

Prints where the dump is and its counts. Safe to run again: the tree is rebuilt the same way and a
second run the same day reports no change.
"""
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(REPO, 'demo-output')
VO = os.path.join(DEMO, 'storage', 'vo')
OLD = 1767225600                 # 2026-01-01: fixed, so a second demo run finds nothing changed

FILES = {
    'store/mc/run1/evt_0001.root': 1200,
    'store/mc/run1/evt_0002.root': 800,
    'store/mc/run2/evt_0001.root': 4000,
    'store/data/2026/raw_0001.root': 2500,
    'store/data/2026/raw_0002.root': 2500,
    'store/user/alice/with space.root': 10,
    u'store/user/bob/résumé.root': 20,
    'store/temp/transfer_0001.part': 99,         # ignored by the pattern ^/store/temp/
}
YOUNG = {'store/mc/run3/evt_new.root': 50}      # modified now: left out by min_age 1h


def build_tree():
    for files, mtime in ((FILES, OLD), (YOUNG, None)):
        for rel, size in files.items():
            p = os.path.join(VO, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            if not os.path.exists(p) or os.path.getsize(p) != size:
                with open(p, 'wb') as f:
                    f.write(b'\0' * size)
            if mtime is not None:
                os.utime(p, (mtime, mtime))
    os.makedirs(os.path.join(DEMO, 'dumps'), exist_ok=True)


def ansible_playbook(*args):
    exe = os.path.join(REPO, '.venv', 'bin', 'ansible-playbook')
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, 'ansible.cfg'))
    return subprocess.call([exe, '-i', os.path.join(REPO, 'inventories', 'demo')] + list(args), cwd=REPO, env=env)


def main():
    build_tree()
    print('Demo storage tree: %s' % VO)
    rc = ansible_playbook(os.path.join(REPO, 'playbooks', 'storage_dump.yml'))
    if rc:
        print('The demo playbook failed (exit %d).' % rc, file=sys.stderr)
        return rc
    sys.path.insert(0, os.path.join(REPO, 'collections'))
    from ansible_collections.vapor.ops.plugins.module_utils._dumpfmt import read_dump
    latest = os.path.join(DEMO, 'dumps', 'latest')
    entries = list(read_dump(latest))
    print('')
    print('Storage dump: %s' % os.path.realpath(latest))
    print('  files: %d, bytes: %d' % (len(entries), sum(e.size or 0 for e in entries)))
    for e in entries[:5]:
        print('  %s|%s|%s|%s' % (e.path, e.size, e.mtime, e.checksum or 'N/A'))
    if len(entries) > 5:
        print('  ...')
    return 0


if __name__ == '__main__':
    sys.exit(main())
