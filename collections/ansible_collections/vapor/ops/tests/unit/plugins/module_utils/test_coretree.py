# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The core tree a role installs on a host (_common/coretree.py): install, idempotence, what is rewritten, links and
odd files in the way, check mode, removal that keeps what is not the tree's, and the controller's reading of the
collection's files."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import os
import stat

import pytest

from ansible_collections.vapor.ops.plugins.module_utils._common import coretree
from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError

PKG = 'ansible_collections/vapor/ops/plugins/module_utils'
CONTENTS = {
    '_common/errors.py': b'class VaporError(Exception):\n    pass\n',
    '_common/options.py': b'OPTIONS = {}\n',
    '_pakiti/run.py': b'def run(params):\n    return params\n',
}
PACKAGE_DIRS = ['ansible_collections', 'ansible_collections/vapor', 'ansible_collections/vapor/ops',
                'ansible_collections/vapor/ops/plugins', PKG, PKG + '/_common', PKG + '/_pakiti']


def tree(root):
    """{relative path: ('dir', mode) | ('file', mode, bytes) | ('link', target)} of everything below root."""
    out = {}
    for top, dirs, files in os.walk(str(root)):
        for name in dirs + files:
            path = os.path.join(top, name)
            rel = os.path.relpath(path, str(root))
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ('link', os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ('dir', stat.S_IMODE(st.st_mode))
            else:
                with open(path, 'rb') as f:
                    out[rel] = ('file', stat.S_IMODE(st.st_mode), f.read())
    return out


def times(root):
    return dict((rel, os.lstat(os.path.join(str(root), rel)).st_mtime_ns) for rel in tree(root))


def sha(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def dest(tmp_path):
    return tmp_path / 'node' / 'usr' / 'local' / 'lib' / 'vapor'


def installed(dest, contents=None, mode=0o644):
    """What the tree must be after an install of ``contents``."""
    contents = CONTENTS if contents is None else contents
    want = dict((d, ('dir', 0o755)) for d in PACKAGE_DIRS)
    want.update((d + '/__init__.py', ('file', mode, b'')) for d in PACKAGE_DIRS)
    want.update((PKG + '/' + name, ('file', mode, data)) for name, data in contents.items())
    return want


# -- present ------------------------------------------------------------------------------------------------------


def test_install_then_nothing_to_do(dest):
    first = coretree.install_tree(str(dest), CONTENTS)
    assert first['changed'] is True
    assert first['changed_files'] == sorted(CONTENTS)
    assert first['package_changed'] == sorted(PACKAGE_DIRS + [d + '/__init__.py' for d in PACKAGE_DIRS])
    assert first['files'] == dict((n, sha(d)) for n, d in CONTENTS.items())
    assert tree(dest) == installed(dest)
    assert first['diff']['before'] == ''
    assert (PKG + '/_pakiti/run.py (sha256 %s, mode 0644)\n' % sha(CONTENTS['_pakiti/run.py'])[:12]) \
        in first['diff']['after']
    stamp = times(dest)

    again = coretree.install_tree(str(dest), CONTENTS)
    assert again['changed'] is False and again['changed_files'] == [] and again['package_changed'] == []
    assert again['files'] == first['files']
    assert again['diff']['before'] == again['diff']['after'] == ''
    assert times(dest) == stamp


def test_a_changed_file_is_rewritten_and_only_it_reported(dest):
    coretree.install_tree(str(dest), CONTENTS)
    stamp = times(dest)
    inode = os.stat(str(dest / PKG / '_common/options.py')).st_ino
    new = dict(CONTENTS, **{'_common/options.py': b'OPTIONS = {"a": 1}\n'})
    res = coretree.install_tree(str(dest), new)
    assert res['changed'] is True and res['changed_files'] == ['_common/options.py'] and res['package_changed'] == []
    assert res['files']['_common/options.py'] == sha(new['_common/options.py'])
    assert tree(dest) == installed(dest, new)
    # replaced whole (a new file renamed over it), the others untouched
    assert os.stat(str(dest / PKG / '_common/options.py')).st_ino != inode
    after = times(dest)
    assert dict((k, v) for k, v in after.items() if not k.endswith('options.py') and not k.endswith('_common')) == \
        dict((k, v) for k, v in stamp.items() if not k.endswith('options.py') and not k.endswith('_common'))
    old_sha, new_sha = sha(CONTENTS['_common/options.py'])[:12], sha(new['_common/options.py'])[:12]
    assert res['diff']['before'] == '%s/_common/options.py (sha256 %s, mode 0644)\n' % (PKG, old_sha)
    assert res['diff']['after'] == '%s/_common/options.py (sha256 %s, mode 0644)\n' % (PKG, new_sha)
    assert 'OPTIONS' not in res['diff']['before'] + res['diff']['after']   # names, not the source


def test_modes_are_set_back(dest):
    coretree.install_tree(str(dest), CONTENTS)
    os.chmod(str(dest / PKG / '_pakiti/run.py'), 0o600)
    os.chmod(str(dest / PKG / '_pakiti'), 0o700)
    os.chmod(str(dest / PKG / '__init__.py'), 0o666)
    res = coretree.install_tree(str(dest), CONTENTS)
    assert res['changed'] is True and res['changed_files'] == ['_pakiti/run.py']
    assert res['package_changed'] == [PKG + '/__init__.py', PKG + '/_pakiti']
    assert tree(dest) == installed(dest)
    # another mode for the files, given as text or as a number
    res = coretree.install_tree(str(dest), CONTENTS, mode=coretree.file_mode('0640'))
    assert res['changed_files'] == sorted(CONTENTS)
    assert tree(dest) == installed(dest, mode=0o640)
    assert coretree.install_tree(str(dest), CONTENTS, mode=0o640)['changed'] is False


def test_existing_init_files_keep_their_content(dest):
    coretree.install_tree(str(dest), CONTENTS)
    (dest / PKG / '_common' / '__init__.py').write_bytes(b'# a site note\n')
    res = coretree.install_tree(str(dest), CONTENTS)
    assert res['changed'] is False
    assert (dest / PKG / '_common' / '__init__.py').read_bytes() == b'# a site note\n'


def test_a_link_at_a_file_path_is_replaced_and_its_target_untouched(dest, tmp_path):
    coretree.install_tree(str(dest), CONTENTS)
    target = tmp_path / 'elsewhere.py'
    target.write_bytes(CONTENTS['_pakiti/run.py'])        # even with the same content
    os.chmod(str(target), 0o644)
    run = dest / PKG / '_pakiti' / 'run.py'
    run.unlink()
    run.symlink_to(target)
    init = dest / PKG / '_pakiti' / '__init__.py'
    init.unlink()
    init.symlink_to(target)
    res = coretree.install_tree(str(dest), CONTENTS)
    assert res['changed_files'] == ['_pakiti/run.py'] and res['package_changed'] == [PKG + '/_pakiti/__init__.py']
    assert '(symbolic link)' in res['diff']['before']
    assert tree(dest) == installed(dest)
    assert target.read_bytes() == CONTENTS['_pakiti/run.py'] and stat.S_IMODE(target.stat().st_mode) == 0o644


@pytest.mark.parametrize('where', ['ansible_collections/vapor', PKG, PKG + '/_pakiti'])
@pytest.mark.parametrize('what', ['link', 'file'])
def test_a_link_or_file_at_a_directory_path_is_refused_and_nothing_written(dest, tmp_path, where, what):
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    path = dest / where
    path.parent.mkdir(parents=True)
    if what == 'link':
        path.symlink_to(elsewhere)
    else:
        path.write_bytes(b'not a directory\n')
    before, stamp = tree(tmp_path), times(tmp_path)
    for check_mode in (True, False):
        with pytest.raises(VaporError) as err:
            coretree.install_tree(str(dest), CONTENTS, check_mode=check_mode)
        assert err.value.msg == (
            "The directory '%s' of the core's package path is a symbolic link; nothing was written (the tree is never "
            "written through a link)." % path if what == 'link' else
            "The directory '%s' of the core's package path is a regular file, not a directory; nothing was written."
            % path)
        assert tree(tmp_path) == before and times(tmp_path) == stamp
    assert os.listdir(str(elsewhere)) == []


def test_a_directory_at_a_file_path_is_refused_and_nothing_written(dest):
    coretree.install_tree(str(dest), CONTENTS)
    os.unlink(str(dest / PKG / '_pakiti/run.py'))
    (dest / PKG / '_pakiti/run.py').mkdir()
    new = dict((n, d + b'# new\n') for n, d in CONTENTS.items())
    before = tree(dest)
    with pytest.raises(VaporError, match=r"^The core file '.*/_pakiti/run.py' is a directory, not a file; nothing "
                                         r"was written\.$"):
        coretree.install_tree(str(dest), new)
    assert tree(dest) == before


def test_check_mode_writes_nothing_and_reports_the_same(dest):
    res = coretree.install_tree(str(dest), CONTENTS, check_mode=True)
    assert not dest.exists() and not dest.parent.exists()
    real = coretree.install_tree(str(dest), CONTENTS)
    assert res == real
    new = dict(CONTENTS, **{'_pakiti/run.py': b'def run(params):\n    return None\n'})
    os.chmod(str(dest / PKG / '_common'), 0o750)
    before, stamp = tree(dest), times(dest)
    checked = coretree.install_tree(str(dest), new, check_mode=True)
    assert tree(dest) == before and times(dest) == stamp
    assert checked['changed'] is True and checked['changed_files'] == ['_pakiti/run.py']
    assert checked['package_changed'] == [PKG + '/_common']
    assert coretree.install_tree(str(dest), new) == checked


def test_bad_input_is_refused_in_one_sentence(dest):
    for files, words in ((['/etc/passwd'], 'is an absolute path'), (['_common/../../x.py'], "has a '..' part"),
                         (['_common//x.py'], 'not a plain relative path'), (['_common/__init__.py'], 'writes empty'),
                         ([], 'No core file is listed'), (['_a.py', '_a.py/b.py'], 'also the directory')):
        with pytest.raises(VaporError, match=words):
            coretree.install_tree(str(dest), dict((f, b'') for f in files))
    with pytest.raises(VaporError, match='is not an absolute path'):
        coretree.install_tree('relative/dir', CONTENTS)
    for mode in ('0777x', 0o1755, '0200'):
        with pytest.raises(VaporError, match='mode'):
            coretree.file_mode(mode)
    assert not dest.exists()
    (dest.parent).mkdir(parents=True)
    dest.write_bytes(b'')
    with pytest.raises(VaporError, match=r"^The install directory '.*' is a regular file, not a directory; nothing was "
                                         r"written\.$"):
        coretree.install_tree(str(dest), CONTENTS)


# -- the module's contents and the controller's reading -------------------------------------------------------------


def test_contents_travel_as_base64_with_their_checksums(tmp_path):
    root = tmp_path / 'module_utils'
    for name, data in CONTENTS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    sent = coretree.read_sources(str(root), sorted(CONTENTS))
    assert sorted(sent) == sorted(CONTENTS)
    assert sent['_pakiti/run.py'] == {'content': base64.b64encode(CONTENTS['_pakiti/run.py']).decode(),
                                      'sha256': sha(CONTENTS['_pakiti/run.py'])}
    assert coretree.decode_contents(sorted(CONTENTS), sent) == CONTENTS
    damaged = dict(sent, **{'_pakiti/run.py': dict(sent['_pakiti/run.py'], sha256=sha(b'other'))})
    with pytest.raises(VaporError, match=r"'_pakiti/run.py' does not match its SHA-256"):
        coretree.decode_contents(sorted(CONTENTS), damaged)
    with pytest.raises(VaporError, match=r'not valid base64'):
        coretree.decode_contents(['_pakiti/run.py'], {'_pakiti/run.py': {'content': '!!', 'sha256': 'x'}})
    with pytest.raises(VaporError, match=r'without content: _pakiti/run.py; not listed: none'):
        coretree.decode_contents(sorted(CONTENTS), dict((k, v) for k, v in sent.items() if k != '_pakiti/run.py'))
    with pytest.raises(VaporError, match=r'action plugin'):
        coretree.decode_contents(sorted(CONTENTS), None)


def test_the_controller_reads_only_regular_files_below_module_utils(tmp_path):
    root = tmp_path / 'module_utils'
    (root / '_common').mkdir(parents=True)
    (root / '_common' / 'errors.py').write_bytes(b'x = 1\n')
    (tmp_path / 'outside.py').write_bytes(b'secret = 1\n')
    (root / '_common' / 'link.py').symlink_to(tmp_path / 'outside.py')
    (root / '_linked').symlink_to(root / '_common')
    (root / '_common' / 'adir.py').mkdir()
    for name, words in (('_common/link.py', 'through the symbolic link'), ('_linked/errors.py', 'symbolic link'),
                        ('_common/adir.py', 'is a directory, not a regular file'), ('_common/none.py', 'cannot be read'),
                        ('../outside.py', "'..' part"), (str(tmp_path / 'outside.py'), 'absolute path')):
        with pytest.raises(VaporError, match=words) as err:
            coretree.read_sources(str(root), ['_common/errors.py', name])
        assert err.value.msg.count('. ') == 0 and err.value.msg.endswith('.')


def test_install_core_runs_either_state(dest):
    sent = dict((n, {'content': base64.b64encode(d).decode(), 'sha256': sha(d)}) for n, d in CONTENTS.items())
    params = {'dest': str(dest), 'files': sorted(CONTENTS), 'contents': sent, 'state': 'present', 'mode': '0644'}
    assert coretree.install_core(params)['changed'] is True
    assert tree(dest) == installed(dest)
    assert coretree.install_core(params)['changed'] is False
    gone = coretree.install_core(dict(params, state='absent', contents=None))
    assert gone['changed'] is True and tree(dest) == {}
    with pytest.raises(VaporError, match='action plugin'):
        coretree.install_core(dict(params, contents=None))


# -- absent -------------------------------------------------------------------------------------------------------


def test_absent_removes_exactly_the_tree(dest):
    (dest / 'bin').mkdir(parents=True)
    (dest / 'bin' / 'runner').write_bytes(b'#!/bin/sh\n')
    coretree.install_tree(str(dest), CONTENTS)
    before, stamp = tree(dest), times(dest)
    checked = coretree.remove_tree(str(dest), sorted(CONTENTS), check_mode=True)
    assert tree(dest) == before and times(dest) == stamp
    res = coretree.remove_tree(str(dest), sorted(CONTENTS))
    assert res == checked
    assert res['changed'] is True and res['changed_files'] == sorted(CONTENTS) and res['files'] == {}
    assert res['removed'] == sorted([PKG + '/' + n for n in CONTENTS] + [d + '/__init__.py' for d in PACKAGE_DIRS]
                                    + [d + '/' for d in PACKAGE_DIRS])
    assert res['diff']['after'] == '' and (PKG + '/_pakiti/ (directory)\n') in res['diff']['before']
    # what is not the tree's stays, and so does dest itself
    assert sorted(tree(dest)) == ['bin', 'bin/runner']
    again = coretree.remove_tree(str(dest), sorted(CONTENTS))
    assert again['changed'] is False and again['removed'] == [] and again['diff']['before'] == ''
    assert dest.is_dir()


def test_absent_keeps_a_foreign_file_and_its_directories(dest):
    coretree.install_tree(str(dest), CONTENTS)
    foreign = dest / PKG / '_common' / 'site.py'
    foreign.write_bytes(b'# the site\n')
    res = coretree.remove_tree(str(dest), sorted(CONTENTS))
    left = sorted(tree(dest))
    # the _common directory stays with its parents and their __init__.py (what is left still imports)
    assert left == sorted(PACKAGE_DIRS[:-1] + [d + '/__init__.py' for d in PACKAGE_DIRS[:-1]]
                          + [PKG + '/_common/site.py'])
    assert foreign.read_bytes() == b'# the site\n'
    assert res['removed'] == sorted([PKG + '/' + n for n in CONTENTS] + [PKG + '/_pakiti/', PKG + '/_pakiti/__init__.py'])
    assert coretree.remove_tree(str(dest), sorted(CONTENTS))['changed'] is False


def test_absent_never_follows_or_removes_a_link_in_the_tree(dest, tmp_path):
    coretree.install_tree(str(dest), CONTENTS)
    elsewhere = tmp_path / 'elsewhere'
    (elsewhere / '_pakiti').mkdir(parents=True)
    (elsewhere / '_pakiti' / 'run.py').write_bytes(b'theirs\n')
    (elsewhere / '_pakiti' / '__init__.py').write_bytes(b'')
    # the _pakiti directory replaced by a link to someone else's tree; a listed file replaced by a link
    for p in sorted((dest / PKG / '_pakiti').iterdir()):
        p.unlink()
    (dest / PKG / '_pakiti').rmdir()
    (dest / PKG / '_pakiti').symlink_to(elsewhere / '_pakiti')
    (dest / PKG / '_common' / 'errors.py').unlink()
    (dest / PKG / '_common' / 'errors.py').symlink_to(elsewhere / '_pakiti' / 'run.py')
    res = coretree.remove_tree(str(dest), sorted(CONTENTS))
    assert any('is a symbolic link, not a directory' in w for w in res['warnings'])
    assert (elsewhere / '_pakiti' / 'run.py').read_bytes() == b'theirs\n'
    assert sorted(os.listdir(str(elsewhere / '_pakiti'))) == ['__init__.py', 'run.py']
    assert (dest / PKG / '_pakiti').is_symlink()
    assert not (dest / PKG / '_common').exists()      # the link at errors.py went, not its target


def test_absent_with_nothing_there(tmp_path):
    res = coretree.remove_tree(str(tmp_path / 'nowhere'), sorted(CONTENTS))
    assert res['changed'] is False and res['removed'] == []
    assert not (tmp_path / 'nowhere').exists()


# -- a hostile directory (hostile review) ----------------------------------------------------------------------------


@pytest.mark.parametrize('where', [PKG + '/__init__.py', PKG + '/_pakiti', PKG + '/_common/options.py'])
def test_a_mode_is_never_set_through_a_link_swapped_in_after_the_look(dest, tmp_path, monkeypatch, where):
    """Only a mode differs; between the look at the tree and the mode being set, someone who can write there puts a
    link to another file or directory in the place. The link's target keeps its mode."""
    coretree.install_tree(str(dest), CONTENTS)
    path = dest / where
    os.chmod(str(path), 0o700 if path.is_dir() else 0o600)
    victim = tmp_path / 'victim'
    if path.is_dir():
        victim.mkdir(mode=0o700)
    else:
        victim.write_bytes(b'secret\n')
    os.chmod(str(victim), 0o700 if path.is_dir() else 0o600)
    real_diff = coretree._diff

    def look_then_swap(*args):
        if path.is_dir():
            os.rename(str(path), str(tmp_path / 'moved'))
        else:
            os.unlink(str(path))
        os.symlink(str(victim), str(path))
        return real_diff(*args)
    monkeypatch.setattr(coretree, '_diff', look_then_swap)
    try:
        coretree.install_tree(str(dest), CONTENTS)
    except VaporError as exc:     # refusing is fine too; following the link is not
        assert 'symbolic link' in exc.msg or 'changed' in exc.msg, exc.msg
    assert stat.S_IMODE(os.stat(str(victim)).st_mode) == (0o700 if victim.is_dir() else 0o600)


def test_a_dest_below_a_linked_directory_is_used_and_one_below_a_file_refused_without_writing(tmp_path):
    """A link among dest's parents is the site's layout and is used (only the tree below dest is never entered
    through a link); a dest below a regular file is one sentence."""
    real = tmp_path / 'real'
    real.mkdir()
    os.symlink(str(real), str(tmp_path / 'opt'))
    assert coretree.install_tree(str(tmp_path / 'opt' / 'vapor'), CONTENTS)['changed'] is True
    assert tree(real / 'vapor') == installed(real / 'vapor')
    (tmp_path / 'afile').write_bytes(b'')
    with pytest.raises(VaporError, match=r"^The directory '.*/afile/vapor' cannot be created: Not a directory\.$"):
        coretree.install_tree(str(tmp_path / 'afile' / 'vapor'), CONTENTS)
    assert (tmp_path / 'afile').read_bytes() == b''
