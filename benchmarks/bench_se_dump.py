#!/usr/bin/env python3
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""se_dump benchmarks: the se_dump core against the command a site admin would otherwise run.

    .venv/bin/python benchmarks/bench_se_dump.py [--only posix|xrootd|dpm] [--files N] [--reps N]
                                                 [--quick] [--profile] [--json FILE]
                                                 [--candidate NAME=DIR] [--quiet-wait S] [--retries N]

posix   run() of the core (source posix, format cms, no compression, a fresh dest directory each
        repetition), with the default workers and with workers=1, against
        ``find ROOT -type f -printf '%p|%s|%T@\\n' > out`` on the same generated tree.
xrootd  run() with source xrootd against a local XRootD server exporting the same kind of tree,
        against ``xrdfs 127.0.0.1:PORT ls -l -R ROOT > out``.
dpm     run() with source dpm against a real MariaDB holding a DPNS Cns_file_metadata table,
        against ``mysql --quick --batch -e "SELECT parent_fileid, name, filesize, mtime, csumtype,
        csumvalue ... WHERE (filemode & 61440) = 32768" > out``; plus the core's peak RSS at 1/4 and
        at the full file count with the same directories.

Every contender runs as a fresh child process (the core through this script's hidden ``--child``
mode, which times run() alone), one warm-up round first (not counted), then ``reps`` rounds
with the contenders in rotated order; the figure is the median. Ratio = core / baseline.
The servers come from tests/servers.py (MariaDB, XRootD as an unprivileged user) and are
stopped at the end. Work files live in benchmarks/work/ (git-ignored).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
COLLECTIONS = os.path.join(REPO, "collections")
TESTS = os.path.join(REPO, "tests")
WORK = os.path.join(HERE, "work")
for _p in (HERE, TESTS, COLLECTIONS):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from benchutil import log, vm_hwm_kb  # noqa: E402

TARGETS = {"posix": 1.5, "xrootd": 1.0, "dpm": 1.5}
FULL = {"posix": 200_000, "xrootd": 200_000, "dpm": 1_000_000}
QUICK = {"posix": 5_000, "xrootd": 3_000, "dpm": 20_000}
DPM_DIRS = 10_000
DPM_DIRS_QUICK = 200
DPM_QUERY = ("SELECT parent_fileid, name, filesize, mtime, csumtype, csumvalue FROM Cns_file_metadata "
             "WHERE (filemode & 61440) = 32768")


# ------------------------------------------------------------------------------------------
# the child: one run() of the core, timed inside the process

def child_main(spec, collections=None):
    params = json.loads(spec)
    from corepath import import_run
    run = import_run("se_dump", collections)
    if params.get("source") == "xrootd":
        # import time is excluded from run_s; the core loads the XRootD binding on first use since issue 9 (older
        # trees loaded it on import), so it is loaded here, before the clock starts, for every tree alike
        import XRootD.client  # noqa: F401  pylint: disable=unused-import
    t0 = time.perf_counter()
    res = run(params)
    run_s = time.perf_counter() - t0
    print(json.dumps({"run_s": run_s, "files": res["files"], "bytes": res["bytes"], "dump": res["dump"],
                      "errors": res["errors"][:3], "vm_hwm_kb": vm_hwm_kb()}))
    return 0


# ------------------------------------------------------------------------------------------
# spawning with per-child rusage

TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


def spawn(argv, stdout_path, env=None):
    """Run argv with stdout to a file; return wall seconds, peak RSS (KiB) and CPU seconds.

    The peak RSS comes from GNU time, which forks the command from its own small process: the
    ru_maxrss that wait4 reports directly to us would include the pre-exec copy of this (big)
    Python process. Without /usr/bin/time the RSS is reported as None.
    """
    err = tempfile.TemporaryFile()
    rss_file = None
    if TIME:
        fd, rss_file = tempfile.mkstemp(prefix="rss-", dir=os.path.join(WORK, "out"))
        os.close(fd)
        argv = [TIME, "-q", "-f", "%M", "-o", rss_file] + list(argv)
    with open(stdout_path, "wb") as out:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env)
        _pid, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    err.seek(0)
    stderr = err.read().decode("utf-8", "replace")
    err.close()
    rss = None
    if rss_file:
        try:
            with open(rss_file) as f:
                rss = int(f.read().split()[-1])
        except (OSError, ValueError, IndexError):
            rss = None
        os.unlink(rss_file)
    if p.returncode != 0:
        raise RuntimeError("%s exited %d: %s" % (argv[0], p.returncode, stderr.strip()[-2000:]))
    return {"wall": wall, "rss_kb": rss, "cpu": ru.ru_utime + ru.ru_stime}


def count_lines(path, skip_prefix=None):
    n = 0
    with open(path, "rb") as f:
        if skip_prefix is None:
            for block in iter(lambda: f.read(1 << 20), b""):
                n += block.count(b"\n")
        else:
            for line in f:
                if not line.startswith(skip_prefix):
                    n += 1
    return n


class Contender:
    """One command measured side by side with others; ``once(rep)`` returns one sample."""

    def __init__(self, name, label, fn):
        self.name, self.label, self.fn = name, label, fn
        self.samples = []

    def seconds(self):
        return [s["seconds"] for s in self.samples]

    def median(self, key="seconds"):
        return statistics.median(s[key] for s in self.samples)


def core_contender(name, label, params, expect_files, env=None, collections=None):
    extra = ["--collections", collections] if collections else []

    def once(rep):
        dest = os.path.join(WORK, "dest", "%s-%d" % (name, rep))
        shutil.rmtree(dest, ignore_errors=True)
        os.makedirs(dest)
        p = dict(params, dest=dest)
        result_file = os.path.join(WORK, "out", "%s.json" % name)
        s = spawn([sys.executable, os.path.abspath(__file__), "--child", json.dumps(p)] + extra, result_file, env=env)
        with open(result_file) as f:
            res = json.load(f)
        if res["errors"]:
            raise RuntimeError("%s: the core reported errors: %s" % (name, res["errors"]))
        lines = count_lines(res["dump"])
        shutil.rmtree(dest, ignore_errors=True)
        if res["files"] != expect_files or lines != expect_files:
            raise RuntimeError("%s: the dump holds %d files (%d lines), expected %d"
                               % (name, res["files"], lines, expect_files))
        return {"seconds": res["run_s"], "proc_s": s["wall"], "rss_kb": s["rss_kb"], "cpu": s["cpu"],
                "hwm_kb": res.get("vm_hwm_kb")}
    return Contender(name, label, once)


def cmd_contender(name, label, argv, expect_files, count=None, env=None):
    def once(rep):
        out = os.path.join(WORK, "out", name + ".out")
        if os.path.exists(out):
            os.unlink(out)
        s = spawn(argv, out, env=env)
        n = count(out) if count else count_lines(out)
        os.unlink(out)
        if n != expect_files:
            raise RuntimeError("%s: the output lists %d files, expected %d" % (name, n, expect_files))
        return {"seconds": s["wall"], "proc_s": s["wall"], "rss_kb": s["rss_kb"], "cpu": s["cpu"]}
    return Contender(name, label, once)


def measure(contenders, reps):
    """One warm-up round, then ``reps`` rounds, the order rotated each round."""
    for c in contenders:
        c.fn(-1)
    for r in range(reps):
        k = r % len(contenders)
        for c in contenders[k:] + contenders[:k]:
            c.samples.append(c.fn(r))
            log("    rep %d  %-22s %.3fs" % (r + 1, c.name, c.samples[-1]["seconds"]))


def _peak(samples, key):
    vals = [s.get(key) for s in samples if s.get(key) is not None]
    return round(max(vals) / 1024.0, 1) if vals else None


def summarise(contenders, baseline):
    b = baseline.median()
    rows = []
    for c in contenders:
        m = c.median()
        rows.append({
            "name": c.name, "label": c.label,
            "median_s": round(m, 4),
            "min_s": round(min(c.seconds()), 4), "max_s": round(max(c.seconds()), 4),
            "proc_median_s": round(c.median("proc_s"), 4),
            "cpu_median_s": round(c.median("cpu"), 4),
            "peak_rss_mib": _peak(c.samples, "rss_kb"),
            "own_hwm_mib": _peak(c.samples, "hwm_kb"),
            "ratio": round(m / b, 3) if c is not baseline else 1.0,
            "samples_s": [round(x, 4) for x in c.seconds()],
        })
    return rows


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError):
        return None


def _system_busy():
    """User + nice + system CPU seconds of the whole machine so far (/proc/stat, all CPUs).

    Interrupt and softirq time are left out: they are not charged to any process, and in these
    benchmarks they are mostly the loopback traffic between the client and its own server.
    """
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return (v[0] + v[1] + v[2]) / float(os.sysconf("SC_CLK_TCK"))


def _kernel_threads_cpu():
    """CPU seconds of the kernel threads (writeback, journalling...: work done for everybody)."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                rest = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(rest[1]) == 2 or pid == "2":      # children of kthreadd
            total += int(rest[11]) + int(rest[12])
    return total / float(os.sysconf("SC_CLK_TCK"))


def _proc_cpu(pid):
    """CPU seconds of a process and of its waited-for children."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return sum(int(x) for x in rest[11:15]) / float(os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


class Disturbance:
    """CPU time used on the machine by processes that are neither this benchmark nor its servers.

    Busy time from /proc/stat minus this process and its (waited) children, the servers' own CPU and
    the kernel threads; short-lived processes of other users are counted too, which a per-process
    sample misses.
    """

    def __init__(self, server_pids=()):
        self.server_pids = [p for p in server_pids if p]
        self.t0 = time.time()
        self.busy0 = _system_busy()
        self.own0 = self._own()

    def _own(self):
        t = os.times()
        return (t.user + t.system + t.children_user + t.children_system + sum(_proc_cpu(p) for p in self.server_pids)
                + _kernel_threads_cpu())

    def stop(self):
        wall = time.time() - self.t0
        busy = _system_busy()
        if busy is None or self.busy0 is None:
            return {"foreign_cpu_s": None, "foreign_pct": None, "wall_s": round(wall, 1)}
        foreign = max(0.0, (busy - self.busy0) - (self._own() - self.own0))
        ncpu = os.cpu_count() or 1
        return {"foreign_cpu_s": round(foreign, 1), "foreign_pct": round(100.0 * foreign / (wall * ncpu), 1),
                "wall_s": round(wall, 1)}


def quiet_check(seconds=2.0):
    """Share (%) of the machine's CPU used by others over a short idle window before a benchmark."""
    d = Disturbance()
    time.sleep(seconds)
    return d.stop()["foreign_pct"]


# ------------------------------------------------------------------------------------------
# the benchmarks

def candidates(params, expect, env=None, label="the same run() from"):
    """Contenders for the alternative collections trees given with --candidate NAME=DIR."""
    out = []
    for name, path in CANDIDATES:
        out.append(core_contender(name, "%s %s" % (label, os.path.relpath(path, REPO)), params, expect, env=env,
                                  collections=path))
    return out


CANDIDATES = []


def bench_posix(files, reps, profile=False):
    import gen_tree
    root = os.path.join(WORK, "tree-%d" % files)
    info = gen_tree.generate(root, files)
    log("posix: %d files, %d leaf directories in %s%s"
        % (files, info["dirs"], root, " (generated)" if info["created"] else " (reused)"))
    base = {"source": "posix", "roots": [root], "format": "cms", "compression": "none"}
    find = cmd_contender("find", "find ROOT -type f -printf '%p|%s|%T@\\n' > out",
                         ["find", root, "-type", "f", "-printf", "%p|%s|%T@\n"], files)
    core = core_contender("core", "se_dump run(), workers default (min(4, nproc))", base, files)
    core1 = core_contender("core-w1", "se_dump run(), workers=1", dict(base, workers=1), files)
    contenders = [find, core, core1] + candidates(base, files)
    out = {"name": "posix", "files": files, "dirs": info["dirs"], "root": root}
    out.update(_run(contenders, find, reps))
    if profile:
        out["profile"] = profile_core(dict(base, workers=1), "posix")
    return out


def _run(contenders, baseline, reps, server_pids=()):
    before = loadavg()
    idle_before = quiet_check()
    t0 = time.time()
    dist = Disturbance(server_pids)
    measure(contenders, reps)
    during = dist.stop()
    return {"reps": reps, "rows": summarise(contenders, baseline), "loadavg_before": before,
            "loadavg_after": loadavg(), "others_pct_before": idle_before, "others_during": during,
            "elapsed_s": round(time.time() - t0, 1)}


def bench_xrootd(files, reps, profile=False):
    import gen_tree
    import servers
    root = os.path.join(WORK, "tree-%d" % files)
    info = gen_tree.generate(root, files)
    log("xrootd: %d files, %d leaf directories in %s%s"
        % (files, info["dirs"], root, " (generated)" if info["created"] else " (reused)"))
    # the XRootD daemon runs as an unprivileged user: the tree must be readable by others
    for d in _ancestors(root):
        if not os.stat(d).st_mode & 0o005:
            raise RuntimeError("%s is not readable by others; the XRootD server could not export the tree" % d)
    t0 = time.time()
    with servers.XRootD() as xrd:
        log("xrootd: server %s up in %.1fs (as %s)" % (xrd.endpoint, time.time() - t0, xrd.identity.name))
        os.symlink(root, str(xrd.data_dir / "tree"))
        env = dict(os.environ)
        xrdfs = cmd_contender("xrdfs", "xrdfs 127.0.0.1:PORT ls -l -R /tree > out",
                              ["xrdfs", xrd.endpoint, "ls", "-l", "-R", "/tree"], files,
                              count=lambda p: count_lines(p, skip_prefix=b"d"), env=env)
        params = {"source": "xrootd", "url": xrd.url, "roots": ["/tree"], "format": "cms", "compression": "none"}
        core = core_contender("core", "se_dump run(), workers default (8 threads)", params, files, env=env)
        out = {"name": "xrootd", "files": files, "dirs": info["dirs"], "root": root,
               "server": "xrootd %s as user %s" % (xrd.endpoint, xrd.identity.name)}
        out.update(_run([xrdfs, core] + candidates(params, files, env=env), xrdfs, reps,
                        server_pids=[xrd.proc.pid if xrd.proc else None]))
        if profile:
            out["profile"] = profile_core(params, "xrootd")
    return out


def _ancestors(path):
    path = os.path.abspath(path)
    out = [path]
    while path != "/":
        path = os.path.dirname(path)
        out.append(path)
    return out


def bench_dpm(files, reps, profile=False, dirs=DPM_DIRS):
    import gen_dpm
    import servers
    small = max(1, files // 4)
    t0 = time.time()
    with servers.MariaDB(buffer_pool="2G") as db:
        log("dpm: MariaDB %s:%s up in %.1fs" % (db.host, db.port, time.time() - t0))
        loads = []
        for name, n in (("cns_full", files), ("cns_quarter", small)):
            info = gen_dpm.load(db, name, n, dirs)
            loads.append(info)
            log("dpm: loaded %(files)d files and %(dirs)d directories into %(database)s in %(seconds)ss" % info)
        # warm the buffer pool the same way for everybody: read the whole table once
        for name, _n in (("cns_full", files), ("cns_quarter", small)):
            db.execute("SELECT COUNT(*), SUM(LENGTH(name)), SUM(filesize) FROM Cns_file_metadata", db=name)
        cnf = os.path.join(WORK, "out", "mysql-client.cnf")
        with open(cnf, "w") as f:
            f.write("[client]\nhost=%s\nport=%d\nuser=%s\npassword=%s\nprotocol=TCP\n"
                    % (db.host, db.port, db.user, db.password))
        os.chmod(cnf, 0o600)

        def conn(name):
            return {"host": db.host, "port": db.port, "user": db.user, "password": db.password, "database": name}

        mysql = cmd_contender(
            "mysql", 'mysql --quick --batch -e "%s" > out' % DPM_QUERY,
            ["mysql", "--defaults-extra-file=" + cnf, "--quick", "--batch", "-e", DPM_QUERY, "cns_full"], files,
            count=lambda p: count_lines(p) - 1)      # minus the header line
        params = {"source": "dpm", "db": conn("cns_full"), "roots": [gen_dpm.VO_ROOT], "format": "cms",
                  "compression": "none"}
        core = core_contender("core", "se_dump run() (MySQLdb SSCursor)", params, files)
        core_q = core_contender("core-quarter", "se_dump run() on %d files (peak RSS)" % small,
                                dict(params, db=conn("cns_quarter")), small)
        out = {"name": "dpm", "files": files, "dirs": loads[0]["dirs"], "load": loads,
               "server": "mariadb %s:%s, innodb_buffer_pool_size=2G" % (db.host, db.port)}
        out.update(_run([mysql, core] + candidates(params, files), mysql, reps,
                        server_pids=[db.proc.pid if db.proc else None]))
        log("dpm: peak RSS of the core at %d files" % small)
        measure([core_q], max(1, min(reps, 3)))
        q = core_q.samples
        full_rss = _peak(core.samples, "hwm_kb") or _peak(core.samples, "rss_kb")
        q_rss = _peak(q, "hwm_kb") or _peak(q, "rss_kb")
        out["rss"] = {"files_quarter": small, "rss_quarter_mib": round(q_rss, 1),
                      "files_full": files, "rss_full_mib": round(full_rss, 1),
                      "growth_mib": round(full_rss - q_rss, 1),
                      "quarter_median_s": round(statistics.median(s["seconds"] for s in q), 3)}
        if profile:
            out["profile"] = profile_core(params, "dpm")
    return out


def profile_core(params, name, top=25):
    """One in-process run() under cProfile (posix: use workers=1, workers fork)."""
    from corepath import import_run
    run = import_run("se_dump")
    dest = os.path.join(WORK, "dest", "profile-" + name)
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(dest)
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    run(dict(params, dest=dest))
    prof.disable()
    wall = time.perf_counter() - t0
    shutil.rmtree(dest, ignore_errors=True)
    buf = io.StringIO()
    st = pstats.Stats(prof, stream=buf)
    st.sort_stats("tottime").print_stats(top)
    text = "profiled run() wall %.3fs (cProfile overhead included)\n" % wall + buf.getvalue()
    path = os.path.join(WORK, "profile-%s.txt" % name)
    with open(path, "w") as f:
        f.write(text)
    log("profile of %s written to %s" % (name, path))
    return {"file": path, "wall_s": round(wall, 3)}


# ------------------------------------------------------------------------------------------

DISTURBED_PCT = 10.0


def disturbed(r):
    """True when other processes used more than DISTURBED_PCT % of the CPUs during the measurement."""
    pct = r["others_during"].get("foreign_pct")
    return pct is not None and pct > DISTURBED_PCT


def print_result(r):
    target = TARGETS[r["name"]]
    print("\n== %s: %d files, %d directories, %d reps (median) ==" % (r["name"], r["files"], r["dirs"], r["reps"]))
    print("  %-14s %9s %9s %9s %9s %8s %9s  %s" % ("contender", "median s", "min s", "max s", "proc s", "cpu s",
                                                   "peak RSS", "ratio"))
    for row in r["rows"]:
        print("  %-14s %9.3f %9.3f %9.3f %9.3f %8.2f %9s  %.3f" % (
            row["name"], row["median_s"], row["min_s"], row["max_s"], row["proc_median_s"], row["cpu_median_s"],
            "-" if row["peak_rss_mib"] is None else "%.1fMi" % row["peak_rss_mib"], row["ratio"]))
    core = [x for x in r["rows"] if x["name"] == "core"][0]
    print("  target: core/baseline <= %.1f -> %.3f %s" % (target, core["ratio"],
                                                          "MET" if core["ratio"] <= target else "MISSED"))
    if "rss" in r:
        m = r["rss"]
        print("  core peak RSS: %.1f MiB at %d files, %.1f MiB at %d files (growth %+.1f MiB)"
              % (m["rss_quarter_mib"], m["files_quarter"], m["rss_full_mib"], m["files_full"], m["growth_mib"]))
    d = r["others_during"]
    print("  other processes: %s%% of the CPUs just before, %s%% (%s CPU s) during the %ss of measurement; "
          "load average %s -> %s%s" % (r["others_pct_before"], d["foreign_pct"], d["foreign_cpu_s"], d["wall_s"],
                                       r["loadavg_before"], r["loadavg_after"],
                                       "  ** DISTURBED: rerun when the machine is quiet **" if disturbed(r) else ""))


def wait_quiet(max_wait, window=5.0):
    """Wait (at most ``max_wait`` s) until other processes use less than DISTURBED_PCT % of the CPUs."""
    t0 = time.time()
    while True:
        pct = quiet_check(window)
        if pct is None or pct <= DISTURBED_PCT:
            return pct
        if time.time() - t0 >= max_wait:
            log("  the machine is still busy (%s%% of the CPUs used by others); measuring anyway" % pct)
            return pct
        log("  waiting for a quiet machine (%s%% of the CPUs used by others)" % pct)


def run_benchmarks(only=None, files=None, reps=None, quick=False, profile=False, quiet_wait=0, retries=0):
    """Run the benchmarks; with ``quiet_wait`` wait for a quiet machine first, and rerun a disturbed
    benchmark up to ``retries`` times (the least disturbed attempt is kept)."""
    sizes = QUICK if quick else FULL
    reps = reps or (2 if quick else 7)
    os.makedirs(os.path.join(WORK, "out"), exist_ok=True)
    os.makedirs(os.path.join(WORK, "dest"), exist_ok=True)
    results = []
    for name in (only or ["posix", "xrootd", "dpm"]):
        n = files or sizes[name]
        attempts = []
        for attempt in range(retries + 1):
            if quiet_wait:
                wait_quiet(quiet_wait)
            t0 = time.time()
            if name == "posix":
                r = bench_posix(n, reps, profile and attempt == 0)
            elif name == "xrootd":
                r = bench_xrootd(n, reps, profile and attempt == 0)
            else:
                r = bench_dpm(n, reps, profile and attempt == 0, dirs=DPM_DIRS_QUICK if quick else DPM_DIRS)
            r["target"] = TARGETS[name]
            r["wall_total_s"] = round(time.time() - t0, 1)
            r["attempt"] = attempt + 1
            print_result(r)
            sys.stdout.flush()
            attempts.append(r)
            if not disturbed(r):
                break
        best = min(attempts, key=lambda x: x["others_during"].get("foreign_pct") or 0.0)
        if "profile" not in best:
            for a in attempts:
                if "profile" in a:
                    best["profile"] = a["profile"]
        best["attempts"] = len(attempts)
        results.append(best)
    shutil.rmtree(os.path.join(WORK, "dest"), ignore_errors=True)
    return results


def set_candidates(specs):
    from corepath import parse_candidates
    CANDIDATES[:] = parse_candidates(specs, taken=("core", "core-w1", "find", "xrdfs", "mysql"))


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", action="append", choices=("posix", "xrootd", "dpm"),
                    help="run only this benchmark (repeatable)")
    ap.add_argument("--files", type=int, help="file count (default: posix/xrootd 200000, dpm 1000000)")
    ap.add_argument("--reps", type=int, help="measured repetitions after one warm-up (default 7, quick 2)")
    ap.add_argument("--quick", action="store_true", help="small smoke run (well under a minute)")
    ap.add_argument("--profile", action="store_true", help="also profile one run() of the core with cProfile")
    ap.add_argument("--json", help="write the results to this JSON file")
    ap.add_argument("--quiet-wait", type=float, default=0, metavar="SECONDS",
                    help="before each benchmark, wait up to SECONDS for other processes to leave the CPUs alone")
    ap.add_argument("--retries", type=int, default=0,
                    help="rerun a benchmark disturbed by other processes up to this many times")
    ap.add_argument("--candidate", action="append", default=[], metavar="NAME=DIR",
                    help="also measure run() from another collections tree (e.g. a prototype under "
                         "benchmarks/work/); repeatable")
    return ap.parse_args(argv)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child_main(argv[1], argv[3] if argv[2:3] == ["--collections"] else None)
    a = parse_args(argv)
    set_candidates(a.candidate)
    results = run_benchmarks(a.only, a.files, a.reps, a.quick, a.profile, a.quiet_wait, a.retries)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
