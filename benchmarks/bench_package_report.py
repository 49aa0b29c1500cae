#!/usr/bin/env python3
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""package_report benchmark: the package-report core against the commands pakiti-client runs, side by side.

    .venv/bin/python benchmarks/bench_package_report.py [--reps N] [--quick] [--datasets dpkg,rpm]
                                                        [--rpm-packages N] [--fanout | --no-fanout]
                                                        [--fanout-hosts N] [--forks N] [--profile]
                                                        [--json FILE] [--candidate NAME=DIR]

Datasets (--datasets, default both, measured in the same rounds):
  dpkg   this machine's dpkg database;
  rpm    a real RPM database of --rpm-packages packages (default 3,000, shaped like an EL9 host, plus one
         gpg-pubkey entry), built once with rpmbuild by tests/rpmdb.py into benchmarks/work/rpmdb-nN and reused.

Contenders, each a fresh child process that writes the whole pakiti report (protocol 5 format) to a file:
  baseline  a bash child running what pakiti-client 3.0.4 runs (../shared/reference/pakiti.md §1.3) and
            assembling the report from it: the header commands (uname -r, uname -m, hostname --fqdn,
            grep "model name" /proc/cpuinfo | sort -u | awk -F: '{print $2}', cat /etc/os-release; the
            clean-up of the values in bash builtins, as pakiti-client does it in Perl) and the package query
              rpm:  rpm --dbpath D -qa --queryformat '%{NAME}\\t%{EPOCH}:%{VERSION}-%{RELEASE}\\t%{ARCH}\\n'
                    | sed 's/\\t(none):/\\t0:/' | grep -v '^gpg-pubkey<TAB>' | LC_ALL=C sort
              dpkg: dpkg-query -W --showformat='${Status}=${Package}\\t${Version}\\t${Architecture}\\n'
                    | grep '^install ok installed' | sed 's/^[^=]*=//' | LC_ALL=C sort
  core      a fresh Python child (--python, default the host's /usr/bin/python3: the interpreter the pakiti_client
            role's runner and an EL9 host run the module with; -c, a few lines) that imports run() of
            plugins/module_utils/_pakiti/run.py and calls run({'output': FILE, 'packager': ..., 'rpm_dbpath': D}):
            the whole process, interpreter start + imports + collect + format + write, as one run of the module
            on a host costs at least. The child also reports its import time and run() time.
  runner    what a site's cron job or systemd timer runs when the pakiti_client role installed the reporter: the
            role's runner (roles/pakiti_client/files/vapor-pakiti-client) with the same interpreter, importing the
            core from this tree (VAPOR_OPS_INSTALL_DIR), reading a JSON configuration of the same parameters,
            taking its lock, as the tests' unprivileged user when the benchmark runs as root (--as-user; the
            runner refuses root): argument parsing, the JSON reader and the user switch on top of the core. Its
            ratio is shown; the target applies to the core.
  python    `PYTHON -c pass`, the bare interpreter start: not a contender, the floor of any Python child.

The output file of every contender is removed before it runs (run() leaves a file that already holds the report
alone). Every round, the core's report file and the baseline's must be byte-identical (the candidates' too) and
hold the expected number of package lines, or the benchmark stops.

One warm-up round (not counted; it also leaves the core's byte code cached, as on an installed collection), then
``reps`` rounds with the contenders in rotated order. Figures: median process wall time, min and max, CPU time
(user + system of the child and its descendants) and peak RSS (GNU time's %M: the largest single process of the
child's tree: rpm, dpkg-query, sort or the Python child). Ratio = median(core) / median(baseline) per dataset,
target <= 1.2; the top-level ratio (what benchmarks/run.py records) is the larger of the datasets' ratios.

Fan-out (--fanout, on by default, skipped with --quick): a local HTTPS Pakiti collector (tests/pakiti_collector.py,
test CA), an inventory of --fanout-hosts hosts (host000...; ansible_connection=local, the venv's Python;
package_report_host set per host, so each report names its host), then playbooks/package_report.yml with
``-f FORKS`` and package_report_url / ca_path / packager dpkg. Recorded: the playbook's wall time, seconds per host,
the module task's own span, the collector's received count and the distinct host headers received; fewer than
one report per host (or a report the collector refused) fails the benchmark.

--candidate NAME=DIR also measures run() from another collections tree (DIR holds ansible_collections/), in the
same rounds, against the same baseline. --profile writes benchmarks/work/profile-package_report.txt: where the
core child's time goes (the slowest imports from -X importtime, and run() under cProfile).

Other work on the 2-core machine is measured: the CPU share used by other processes during the comparison rounds
and during the fan-out (benchmarks/bench_se_dump.py's Disturbance), and the load average before and after.
"""

# Only modules the core imports itself are imported at the top: benchmark children do not load this script, but
# keeping the parent's extra modules (argparse, statistics, tempfile...) local keeps that true if one ever does.
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
COLLECTIONS = os.path.join(REPO, "collections")
TESTS = os.path.join(REPO, "tests")
WORK = os.path.join(HERE, "work")
for _p in (HERE, COLLECTIONS, TESTS):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from benchutil import log  # noqa: E402

TARGET_RATIO = 1.2
RUNNER = os.path.join(COLLECTIONS, "ansible_collections", "vapor", "ops", "roles", "pakiti_client", "files",
                      "vapor-pakiti-client")
PLAYBOOK = "playbooks/package_report.yml"
TASK = "Collect, filter and send the package report"
DATASETS = ("dpkg", "rpm")

# The core's child: interpreter start, import of run(), one run(); prints its own timings as one JSON line.
# argv: [paths to put first on sys.path (JSON), run()'s params (JSON), the candidate's collections dir or ''].
CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
sys.path[:0] = json.loads(sys.argv[1])
import corepath
corepath.PLACES.setdefault('package_report', ('_pakiti.run',))
run = corepath.import_run('package_report', sys.argv[3] or None)
t1 = time.perf_counter()
result = run(json.loads(sys.argv[2]))
t2 = time.perf_counter()
from benchutil import vm_hwm_kb
print(json.dumps({'import_s': t1 - t0, 'run_s': t2 - t1, 'vm_hwm_kb': vm_hwm_kb(), 'counts': result['counts'],
                  'output': result.get('output'), 'warnings': result['warnings']}))
"""

# The same, with the imports timed by -X importtime (stderr) and run() under cProfile (stdout): --profile.
PROFILE_CHILD = r"""
import json, sys, time
sys.path[:0] = json.loads(sys.argv[1])
import corepath
corepath.PLACES.setdefault('package_report', ('_pakiti.run',))
run = corepath.import_run('package_report', None)
import cProfile, io, pstats
prof = cProfile.Profile()
t = time.perf_counter()
prof.runcall(run, json.loads(sys.argv[2]))
t = time.perf_counter() - t
buf = io.StringIO()
pstats.Stats(prof, stream=buf).sort_stats('cumulative').print_stats(30)
print('run() took %.4f s under cProfile' % t)
print(buf.getvalue())
"""

# pakiti-client's commands, and the report assembled from them. $1 report file, $2 rpm|dpkg, $3 rpm database.
BASELINE = r"""set -euo pipefail
export LC_ALL=C
umask 077
out=$1 packager=$2 dbpath=${3:-}
ws=$' \t\n\v\f\r'
strip() {  # pakiti-client's strip(): trim, each run of white space one space, printable ASCII only
    local v=$1
    v=${v//[$ws]/ }
    while [[ $v == *'  '* ]]; do v=${v//'  '/ }; done
    v=${v# }; v=${v% }
    printf '%s' "${v//[^ -~]/}"
}
kernel=$(strip "$(uname -r)")
arch=$(strip "$(uname -m)")
host=$(strip "$(hostname --fqdn)")
cpu=$(strip "$(grep "model name" /proc/cpuinfo | sort -u | awk -F ":" '{print$2}' || true)")
if [[ -f /etc/redhat-release ]]; then
    system=$(strip "$(cat /etc/redhat-release)")
elif [[ -f /etc/fedora-release ]]; then
    system=$(strip "$(cat /etc/fedora-release)")
else
    name=Linux version_id=
    osr=$(cat /etc/os-release)
    while IFS= read -r line; do
        [[ $line == *=* && $line != '#'* ]] || continue
        case ${line%%=*} in
            NAME) name=${line#*=} ;;
            VERSION_ID) version_id=${line#*=} ;;
        esac
    done <<< "${osr//\"/}"
    system=$(strip "$name${version_id:+ $version_id}")
fi
{
    printf '#\narch: %s\n' "$arch"
    if [[ -n $cpu ]]; then printf 'cpu: %s\n' "$cpu"; fi
    printf 'host: %s\nkernel: %s\npackager: %s\nsystem: %s\nversion: 1\n#\n' "$host" "$kernel" "$packager" "$system"
    if [[ $packager == rpm ]]; then
        rpm --dbpath "$dbpath" -qa --queryformat '%{NAME}\t%{EPOCH}:%{VERSION}-%{RELEASE}\t%{ARCH}\n' \
            | sed 's/\t(none):/\t0:/' | grep -v $'^gpg-pubkey\t' | LC_ALL=C sort
    else
        dpkg-query -W --showformat='${Status}=${Package}\t${Version}\t${Architecture}\n' \
            | grep '^install ok installed' | sed 's/^[^=]*=//' | LC_ALL=C sort
    fi
    printf '#\n'
} > "$out"
"""


# ------------------------------------------------------------------------------------------
# running one contender

def child_env():
    """The environment of every child: this one, without settings that would change what Python does at start."""
    env = dict(os.environ)
    for name in ("PYTHONDONTWRITEBYTECODE", "PYTHONPROFILEIMPORTTIME", "PYTHONVERBOSE", "PYTHONDEVMODE"):
        env.pop(name, None)
    return env


def timed(cmd, env=None):
    """Run cmd under GNU time: (wall s, peak RSS KiB of the largest process of its tree, CPU s, stdout)."""
    import tempfile
    fd, tf = tempfile.mkstemp(prefix="bench-time-")
    os.close(fd)
    try:
        t = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-o", tf, "-f", "%M %U %S"] + cmd, env=env or child_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False)
        wall = time.perf_counter() - t
        with open(tf) as f:
            lines = [ln for ln in f.read().splitlines() if ln.strip()]
    finally:
        os.unlink(tf)
    if proc.returncode != 0:
        raise SystemExit("benchmark child failed (exit %s): %s\n%s" % (proc.returncode, " ".join(cmd)[:300],
                                                                       proc.stderr[-3000:]))
    rss, user, system = lines[-1].split()
    return wall, int(rss), float(user) + float(system), proc.stdout


def params_of(ds, out):
    params = {"output": out, "packager": ds["packager"]}
    if ds.get("dbpath"):
        params["rpm_dbpath"] = ds["dbpath"]
    return params


def run_baseline(ds, out, script):
    if os.path.exists(out):
        os.unlink(out)
    wall, rss, cpu, _stdout = timed(["bash", script, out, ds["packager"], ds.get("dbpath") or ""])
    return {"wall": wall, "rss_kb": rss, "cpu": cpu, "out": out}


def run_core(ds, out, collections=None):
    if os.path.exists(out):
        os.unlink(out)
    argv = [PYTHON[0], "-c", CHILD, json.dumps([HERE, COLLECTIONS]), json.dumps(params_of(ds, out)),
            collections or ""]
    wall, rss, cpu, stdout = timed(argv)
    child = json.loads(stdout.strip().splitlines()[-1])
    if not (child.get("output") or {}).get("changed"):
        raise SystemExit("run() did not write %s: %s" % (out, stdout.strip()[-500:]))
    return {"wall": wall, "rss_kb": rss, "cpu": cpu, "out": out, "import_s": child["import_s"],
            "run_s": child["run_s"], "vm_hwm_kb": child["vm_hwm_kb"], "found": child["counts"]["found"],
            "warnings": child["warnings"]}


def runner_setup(data, scratch):
    """{dataset: (configuration file, report file)} for the runner, and the --as-user arguments.

    As root the runner must become another user: the tests' unprivileged user (tests/servers.py), which then owns
    the runner's directory, configurations and reports."""
    import pwd
    target = os.path.join(scratch, "runner")
    os.makedirs(target)
    os.chmod(target, 0o755)
    as_user, owner = [], None
    if os.geteuid() == 0:
        from servers import ensure_unprivileged_user
        owner = ensure_unprivileged_user()
        as_user = ["--as-user", owner.pw_name]
        os.chown(target, owner.pw_uid, owner.pw_gid)
    else:
        owner = pwd.getpwuid(os.geteuid())
    configs = {}
    for name, ds in data.items():
        out = os.path.join(target, "runner-%s.report" % name)
        cfg = os.path.join(target, "runner-%s.json" % name)
        with open(cfg, "w") as f:
            json.dump(params_of(ds, out), f)
        os.chmod(cfg, 0o600)
        os.chown(cfg, owner.pw_uid, owner.pw_gid)
        configs[name] = (cfg, out)
    return configs, as_user


def run_runner(cfg, out, as_user):
    if os.path.exists(out):
        os.unlink(out)
    env = dict(child_env(), VAPOR_OPS_INSTALL_DIR=COLLECTIONS)
    wall, rss, cpu, stdout = timed([PYTHON[0], RUNNER, "--config", cfg, "--quiet"] + as_user, env=env)
    if not os.path.isfile(out):
        raise SystemExit("the runner did not write %s: %s" % (out, stdout.strip()[-500:]))
    return {"wall": wall, "rss_kb": rss, "cpu": cpu, "out": out}


def run_floor():
    wall, rss, cpu, _stdout = timed([PYTHON[0], "-c", "pass"])
    return {"wall": wall, "rss_kb": rss, "cpu": cpu}


# ------------------------------------------------------------------------------------------
# checks

def report_blocks(data):
    """(header lines, package lines) of a report (bytes), for a readable message when two reports differ."""
    lines = data.split(b"\n")
    try:
        second = lines.index(b"#", 1)
    except ValueError:
        return lines[1:], []
    return lines[1:second], [ln for ln in lines[second + 1:] if ln and ln != b"#"]


def check_same(ds_name, name, path, base_path, expected_packages):
    """The report at ``path`` is byte-identical to the baseline's and has the expected number of package lines."""
    with open(path, "rb") as f:
        mine = f.read()
    with open(base_path, "rb") as f:
        theirs = f.read()
    mine_h, mine_p = report_blocks(mine)
    if expected_packages is not None and len(mine_p) != expected_packages:
        raise SystemExit("%s (%s) reported %d packages, %d expected" % (name, ds_name, len(mine_p), expected_packages))
    if mine == theirs:
        return
    theirs_h, theirs_p = report_blocks(theirs)
    if mine_h != theirs_h:
        why = "headers differ: %r against the baseline's %r" % (mine_h, theirs_h)
    elif mine_p != theirs_p:
        first = next((i for i, (a, b) in enumerate(zip(mine_p, theirs_p)) if a != b), min(len(mine_p), len(theirs_p)))
        why = "package lines differ from line %d (%d lines against %d)" % (first + 1, len(mine_p), len(theirs_p))
    else:
        why = "the separators or line ends differ"
    raise SystemExit("%s's report differs from the baseline's (%s): %s" % (name, ds_name, why))


# ------------------------------------------------------------------------------------------
# data

def dpkg_count():
    out = subprocess.run(["dpkg-query", "-W", "--showformat=${Status}\n"], stdout=subprocess.PIPE,
                         env=dict(os.environ, LC_ALL="C"), check=True).stdout
    return sum(1 for ln in out.split(b"\n") if ln.startswith(b"install ok installed"))


def datasets(names, rpm_packages):
    out = {}
    for name in names:
        if name == "dpkg":
            out[name] = {"packager": "dpkg", "packages": dpkg_count(), "what": "this machine's dpkg database"}
        else:
            import rpmdb
            t = time.time()
            path = str(rpmdb.prepared_rpmdb(WORK, name="n%d" % rpm_packages,
                                            packages=rpmdb.synthetic_packages(rpm_packages), gpg_keys=1))
            log("rpm database: %s (%.1f s)" % (path, time.time() - t))
            out[name] = {"packager": "rpm", "packages": rpm_packages, "dbpath": path,
                         "what": "an RPM database of %d packages and 1 gpg-pubkey (tests/rpmdb.py, built with "
                                 "rpmbuild)" % rpm_packages}
    return out


# ------------------------------------------------------------------------------------------
# fan-out

def _seconds(iso):
    import datetime
    return datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def fanout(hosts, forks, scratch):
    """playbooks/package_report.yml over ``hosts`` local hosts to one HTTPS collector; the figures (dict)."""
    import pathlib
    import shutil
    import ansible_runner
    from pakiti_collector import PakitiCollector, parse_report
    from testca import make_test_ca
    top = os.path.join(scratch, "fanout")
    shutil.rmtree(top, ignore_errors=True)
    os.makedirs(top)
    ca = make_test_ca(pathlib.Path(top) / "ca")
    names = ["host%03d" % i for i in range(hosts)]
    report_hosts = dict((n, "%s.bench.example.org" % n) for n in names)
    python = ansible_runner.local_python()
    inv = {"all": {"children": {"packages": {"hosts": dict(
        (n, {"ansible_connection": "local", "ansible_python_interpreter": python,
             "package_report_host": report_hosts[n]}) for n in names)}}}}
    inv_path = os.path.join(top, "inventory.yml")
    with open(inv_path, "w") as f:
        json.dump(inv, f, indent=1)
    collector = PakitiCollector(ca).start()
    try:
        ev = {"package_report_url": collector.url, "package_report_ca_path": str(ca.ca_file),
              "package_report_packager": "dpkg"}
        log("fan-out: %d hosts, forks %d, collector %s" % (hosts, forks, collector.url))
        t = time.perf_counter()
        res = ansible_runner.run_playbook(PLAYBOOK, ev, inventory=inv_path, args=["-f", str(forks)], timeout=3600)
        wall = time.perf_counter() - t
    finally:
        collector.stop()
    received = list(collector.received)
    refused = [r.error for r in received if r.error]
    seen = []
    for r in received:
        if r.report:
            seen.append(parse_report(r.report)[0].get("host"))
    span = None
    task = res.tasks(TASK)
    if task and task[-1]["task"]["duration"].get("end"):
        d = task[-1]["task"]["duration"]
        span = _seconds(d["end"]) - _seconds(d["start"])
    ok = sum(1 for h in res.task(TASK).values() if h.get("_status") == "ok")
    fig = {"hosts": hosts, "forks": forks, "wall_s": round(wall, 2), "s_per_host": round(wall / hosts, 3),
           "task_s": None if span is None else round(span, 2),
           "task_s_per_host": None if span is None else round(span / hosts, 3),
           "task_ok": ok, "received": len(received), "refused": len(refused),
           "distinct_hosts": len(set(seen)), "all_hosts_named": set(seen) == set(report_hosts.values())}
    shutil.rmtree(top, ignore_errors=True)
    if len(received) != hosts or refused or fig["distinct_hosts"] != hosts or not fig["all_hosts_named"]:
        raise SystemExit("fan-out: the collector received %d reports (%d refused: %s) from %d distinct hosts; %d "
                         "expected, one per host" % (len(received), len(refused), "; ".join(refused[:3]),
                                                     fig["distinct_hosts"], hosts))
    return fig


# ------------------------------------------------------------------------------------------
# profile

def profile(ds, scratch):
    out = os.path.join(scratch, "profile.report")
    if os.path.exists(out):
        os.unlink(out)
    env = dict(child_env(), PYTHONPROFILEIMPORTTIME="1")
    proc = subprocess.run([PYTHON[0], "-c", PROFILE_CHILD, json.dumps([HERE, COLLECTIONS]),
                           json.dumps(params_of(ds, out))], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, check=True)
    rows = []
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            own, cumulative, name = line[len("import time:"):].split("|")
            if own.strip().isdigit():     # the name keeps its indent: two spaces for each level of nesting
                rows.append((int(cumulative), int(own), name[1:]))
    top_level = [r for r in rows if not r[2].startswith(" ")]
    lines = ["Where the core child's time goes (%s, one run; -X importtime in microseconds, then run() under "
             "cProfile)." % ds["packager"], "",
             "Imports at the top level of the child: site, and run()'s module's own imports, which -X importtime "
             "shows unindented under importlib.import_module (cumulative us, self us, module):"]
    lines += ["  %8d %8d  %s" % r for r in sorted(top_level, reverse=True)[:15]]
    lines += ["", "Slowest imports anywhere (cumulative us, self us, module):"]
    lines += ["  %8d %8d  %s" % (c, o, n.strip()) for c, o, n in sorted(rows, reverse=True)[:40]]
    lines += ["", proc.stdout]
    path = os.path.join(WORK, "profile-package_report.txt")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path, sum(r[0] for r in top_level)


# ------------------------------------------------------------------------------------------
# the parent

def load_snapshot():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def summarise(values):
    import statistics
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def figures(rs, core=False):
    f = {"wall": summarise([r["wall"] for r in rs]), "cpu": summarise([r["cpu"] for r in rs]),
         "rss_mb": max(r["rss_kb"] for r in rs) / 1024.0, "samples_s": [round(r["wall"], 4) for r in rs]}
    if core:
        f["import_s"] = summarise([r["import_s"] for r in rs])
        f["run_s"] = summarise([r["run_s"] for r in rs])
        f["vm_hwm_mb"] = max(r["vm_hwm_kb"] or 0 for r in rs) / 1024.0
    return f


def markdown(fig):
    """The section body for RESULTS.md (what benchmarks/run.py can show for this benchmark)."""
    out = ["Each contender is a fresh child process that writes the whole pakiti report to a file: the baseline a "
           "bash child running pakiti-client's commands (header commands, package query piped to sed/grep/"
           "`LC_ALL=C sort`), the core a Python child running `run({'output': FILE, ...})` (interpreter start, "
           "imports, collect, format, write), the runner the pakiti_client role's `vapor-pakiti-client --config "
           "FILE --quiet` (what a site's cron job runs: the core plus argument parsing, the JSON configuration, the "
           "lock and the switch to the run user). %d counted rounds after one warm-up, rotated order, median "
           "[min–max]; every round the three report files were byte-identical." % fig["reps"], ""]
    out += ["| data | contender | median s | min s | max s | CPU s | peak RSS MiB | ratio |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, lf in sorted(fig["layouts"].items()):
        label = "%s (%d packages)" % (name, lf["packages"])
        rows = [("baseline (bash)", lf["baseline"]), ("core (Python child)", lf["core"]),
                ("runner (`vapor-pakiti-client`)", lf["runner"])]
        rows += [("candidate %s (`%s`)" % (n, c["collections"]), c) for n, c in sorted(lf.get("candidates", {}).items())]
        base = lf["baseline"]["wall"]["median"]
        for title, f in rows:
            out.append("| %s | %s | %.3f | %.3f | %.3f | %.3f | %.1f | %s |" % (
                label, title, f["wall"]["median"], f["wall"]["min"], f["wall"]["max"], f["cpu"]["median"],
                f["rss_mb"], "**%.2f**" % (f["wall"]["median"] / base) if title.startswith("core") else
                "%.2f" % (f["wall"]["median"] / base)))
    fl = fig["python_floor"]
    out += ["", "Inside the core child (median): imports %s; run() %s. A bare `python -c pass` takes %.3f s "
            "[%.3f–%.3f] on this machine." % (
                ", ".join("%s %.3f s" % (n, lf["core"]["import_s"]["median"]) for n, lf in sorted(fig["layouts"].items())),
                ", ".join("%s %.3f s" % (n, lf["core"]["run_s"]["median"]) for n, lf in sorted(fig["layouts"].items())),
                fl["wall"]["median"], fl["wall"]["min"], fl["wall"]["max"])]
    rest = ", ".join("%s %.3f s" % (n, lf["core"]["wall"]["median"] - fl["wall"]["median"] - lf["core"]["import_s"]["median"]
                                    - lf["core"]["run_s"]["median"]) for n, lf in sorted(fig["layouts"].items()))
    alone = ", ".join("%s %.2f" % (n, lf["core"]["run_s"]["median"] / lf["baseline"]["wall"]["median"])
                      for n, lf in sorted(fig["layouts"].items()))
    out += ["The rest of the core's wall time (the teardown of an interpreter that holds those modules, and the "
            "child's own lines): %s. run() alone against the whole baseline process: %s." % (rest, alone)]
    verdicts = ["%s %.2f (%s)" % (n, lf["ratio"], "met" if lf["ratio"] <= TARGET_RATIO else "**missed**")
                for n, lf in sorted(fig["layouts"].items())]
    out += ["", "Target ratio core / baseline <= %s: %s." % (TARGET_RATIO, ", ".join(verdicts))]
    fo = fig.get("fanout")
    if fo:
        out += ["", "Agentless fan-out: `%s` over %d inventory hosts (local connection, the venv's Python, "
                "packager dpkg, `-f %d`) to one local HTTPS collector: %.1f s in all, **%.3f s per host** (the "
                "module task itself %s s, %s s per host); the collector received **%d** reports (%d refused) naming "
                "%d distinct hosts." % (PLAYBOOK, fo["hosts"], fo["forks"], fo["wall_s"], fo["s_per_host"],
                                        fo["task_s"], fo["task_s_per_host"], fo["received"], fo["refused"],
                                        fo["distinct_hosts"])]
    ld = fig["load"]
    out += ["", "Other processes used %s%% of the CPUs during the rounds%s; load average %s before, %s after." % (
        ld["rounds"].get("foreign_pct"),
        " and %s%% during the fan-out" % ld["fanout"].get("foreign_pct") if ld.get("fanout") else "",
        ld["before"], ld["after"])]
    return out


# the interpreter of the core's child: a host's system Python (what the pakiti_client role's runner and an EL9 host run
# the module with), not the project's .venv, whose development packages add start-up work no host has
PYTHON = ["/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable]


def main(argv=None):
    import argparse
    import shutil
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=None, help="counted rounds (default 15; --quick 3)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 3 rounds, no fan-out")
    ap.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated: dpkg, rpm (default both)")
    ap.add_argument("--rpm-packages", type=int, default=3000, help="packages in the RPM database (default 3000)")
    ap.add_argument("--fanout", action=argparse.BooleanOptionalAction, default=None,
                    help="run the playbook fan-out too (default: yes, but not with --quick)")
    ap.add_argument("--fanout-hosts", type=int, default=100)
    ap.add_argument("--forks", type=int, default=10)
    ap.add_argument("--profile", action="store_true", help="write benchmarks/work/profile-package_report.txt")
    ap.add_argument("--json", help="also write the figures as JSON to this file")
    ap.add_argument("--python", default=PYTHON[0],
                    help="the interpreter of the core's child (default: the host's /usr/bin/python3, else this one)")
    ap.add_argument("--candidate", action="append", default=[], metavar="NAME=DIR",
                    help="also measure run() from another collections tree, in the same rounds")
    args = ap.parse_args(argv)
    PYTHON[0] = args.python
    from bench_se_dump import Disturbance
    from corepath import parse_candidates
    candidates = dict(parse_candidates(args.candidate, taken=("core", "baseline", "python")))
    reps = args.reps or (3 if args.quick else 15)
    do_fanout = args.fanout if args.fanout is not None else not args.quick
    names = [x.strip() for x in args.datasets.split(",") if x.strip()]
    if not names or set(names) - set(DATASETS):
        raise SystemExit("--datasets takes dpkg and/or rpm, not %s" % args.datasets)
    data = datasets(names, args.rpm_packages)
    scratch = os.path.join(WORK, "pr-scratch")
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch)
    script = os.path.join(scratch, "baseline.sh")
    with open(script, "w") as f:
        f.write(BASELINE)

    runner_configs, as_user = runner_setup(data, scratch)

    contenders = [("python", None)]
    for name in names:
        contenders += [("baseline", name), ("core", name), ("runner", name)] + [(c, name) for c in sorted(candidates)]
    results = dict((c, []) for c in contenders)
    load = {"before": load_snapshot()}
    dist = Disturbance()
    for i, rnd in enumerate(["warmup"] + list(range(reps))):
        order = contenders[i % len(contenders):] + contenders[:i % len(contenders)]
        outs = {}
        for kind, ds_name in order:
            if kind == "python":
                res = run_floor()
            else:
                out = os.path.join(scratch, "%s-%s.report" % (kind, ds_name))
                ds = data[ds_name]
                if kind == "baseline":
                    res = run_baseline(ds, out, script)
                elif kind == "runner":
                    res = run_runner(runner_configs[ds_name][0], runner_configs[ds_name][1], as_user)
                    out = res["out"]
                else:
                    res = run_core(ds, out, candidates.get(kind))
                outs[(kind, ds_name)] = out
            detail = ""
            if "run_s" in res:
                detail = "  (imports %.3f s, run() %.3f s, VmHWM %d MiB, %d packages)" % (
                    res["import_s"], res["run_s"], (res["vm_hwm_kb"] or 0) // 1024, res["found"])
            log("round %-6s %-9s %-5s %7.3f s  cpu %.3f s  peak RSS %4d MiB%s" % (
                rnd, kind, ds_name or "-", res["wall"], res["cpu"], res["rss_kb"] // 1024, detail))
            if rnd != "warmup":
                results[(kind, ds_name)].append(res)
        for name in names:
            for kind in ["core", "runner"] + sorted(candidates):
                check_same(name, kind, outs[(kind, name)], outs[("baseline", name)], data[name]["packages"])
    load["rounds"] = dist.stop()

    fig = {"benchmark": "package_report", "reps": reps, "target_ratio": TARGET_RATIO, "layouts": {},
           "python_floor": figures(results[("python", None)]), "machine": {"nproc": os.cpu_count()},
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    for name in names:
        lf = fig["layouts"][name] = {"packages": data[name]["packages"], "data": data[name]["what"],
                                     "baseline": figures(results[("baseline", name)]),
                                     "core": figures(results[("core", name)], core=True),
                                     "runner": figures(results[("runner", name)])}
        base = lf["baseline"]["wall"]["median"]
        lf["ratio"] = lf["core"]["wall"]["median"] / base
        lf["runner"]["ratio"] = lf["runner"]["wall"]["median"] / base
        lf["target_ratio"] = TARGET_RATIO
        for c in sorted(candidates):
            cf = lf.setdefault("candidates", {})[c] = figures(results[(c, name)], core=True)
            cf["collections"] = os.path.relpath(candidates[c], REPO)
            cf["ratio"] = cf["wall"]["median"] / base
    fig["ratio"] = max(lf["ratio"] for lf in fig["layouts"].values())
    first = fig["layouts"][names[0]]
    for k in ("baseline", "core", "candidates"):
        if k in first:
            fig[k] = first[k]

    if args.profile:
        path, total = profile(data[names[-1]], scratch)
        fig["profile"] = {"file": os.path.relpath(path, REPO), "imports_us": total}
        log("profile written to %s" % path)
    if do_fanout:
        fdist = Disturbance()
        fig["fanout"] = fanout(args.fanout_hosts, args.forks, scratch)
        load["fanout"] = fdist.stop()
    load["after"] = load_snapshot()
    fig["load"] = load
    fig["markdown"] = markdown(fig)

    print("\npackage_report vs pakiti-client's commands, %d rounds (median [min-max], whole processes)" % reps)
    fl = fig["python_floor"]
    print("  python -c pass  %.3f s [%.3f-%.3f]" % (fl["wall"]["median"], fl["wall"]["min"], fl["wall"]["max"]))
    for name in names:
        lf = fig["layouts"][name]
        print(" %s: %s, %d packages" % (name, lf["data"], lf["packages"]))
        rows = [("baseline", lf["baseline"]), ("core", lf["core"]), ("runner", lf["runner"])]
        rows += sorted(lf.get("candidates", {}).items())
        for label, f in rows:
            extra = ""
            if "import_s" in f:
                extra = "  imports %.3f s, run() %.3f s, VmHWM %.0f MiB" % (
                    f["import_s"]["median"], f["run_s"]["median"], f["vm_hwm_mb"])
            print("  %-9s %7.3f s [%.3f-%.3f]  cpu %.3f s  peak RSS %5.1f MiB%s" % (
                label, f["wall"]["median"], f["wall"]["min"], f["wall"]["max"], f["cpu"]["median"], f["rss_mb"], extra))
        print("  ratio core/baseline %.3f (target <= %.1f: %s); runner/baseline %.3f" % (
            lf["ratio"], TARGET_RATIO, "met" if lf["ratio"] <= TARGET_RATIO else "MISSED", lf["runner"]["ratio"]))
    if "fanout" in fig:
        fo = fig["fanout"]
        print(" fan-out: %d hosts, forks %d: %.1f s, %.3f s per host (task %s s); collector received %d, %d distinct "
              "hosts" % (fo["hosts"], fo["forks"], fo["wall_s"], fo["s_per_host"], fo["task_s"], fo["received"],
                         fo["distinct_hosts"]))
    print("  other processes: %s%% of the CPUs during the rounds%s; load %s -> %s" % (
        load["rounds"].get("foreign_pct"),
        ", %s%% during the fan-out" % load["fanout"].get("foreign_pct") if "fanout" in load else "",
        load["before"], load["after"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(fig, f, indent=2)
    shutil.rmtree(scratch, ignore_errors=True)
    return fig


if __name__ == "__main__":
    main()
