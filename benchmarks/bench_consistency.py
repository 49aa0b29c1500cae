#!/usr/bin/env python3
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""consistency_check benchmark: the comparison core against sort + comm, side by side in one run.

    .venv/bin/python benchmarks/bench_consistency.py [--paths N] [--reps N] [--quick] [--core-only]
                                                     [--compression none|gzip|bzip2] [--threads N]
                                                     [--memory-limit SIZE] [--json FILE]
                                                     [--layouts absolute,relative] [--compact]
                                                     [--candidate NAME=DIR]

Data: three text dumps of N paths each (catalog_before, storage, catalog_after) from gen_consistency.py,
with 1% dark and 1% lost, pseudo-random order; generated once into benchmarks/work/cc-N and reused.

baseline  what an operator would otherwise run (a bash child process):
              export LC_ALL=C
              sort catalog_before > B; sort storage > S; sort catalog_after > A
              comm -23 S B | comm -23 - A > dark          # on storage, in neither catalog dump
              comm -12 B A | comm -23 - S > lost          # in both catalog dumps, not on storage
core      run() of plugins/module_utils/_consistency/run.py in a fresh Python child process (this script's
          hidden --child mode): the whole check, from the three dump files to dark.list, lost.list,
          confirmed_dark.list and stats.json in a new run directory, with the default engine settings
          unless --threads / --memory-limit are given.

With --compression the three dumps are gzip/bzip2 copies and the baseline reads them through zcat/bzcat.

Layouts (--layouts, default both, measured in the same rounds): ``absolute`` paths (/store/mc/...) and
``relative`` paths, the same paths without the leading '/' (store/mc/..., as many sites publish them; the
core's lists then hold them with the '/' put in front, which is what the check compares). Each layout has its
own baseline and its own ratio. --compact uses short paths (/c/NN/XXXXXXXX) for the scale run.

Every contender is a fresh child process; one warm-up round (not counted) warms the page cache, then
``reps`` rounds with the contenders in rotated order. Figures: median process wall time (interpreter
start and imports included for the core), min and max, and peak RSS. Peak RSS is ru_maxrss of the
child as reported by GNU time (/usr/bin/time -f %M; for the baseline the largest single process of
the script: sort or comm), and for the core also its own VmHWM. Ratio = median(core) / median(baseline).
Every repetition is checked: both must find exactly the generated dark and lost counts, and on the first
round the two lists must be byte-identical. Peak temporary disk use is sampled every 2 s: for the baseline its
output directory (TMPDIR of sort, the sorted copies, the lists), for the core its temp_dir (decompressed copies,
the engine's spill files); the core's run directory holds only the lists.

--candidate NAME=DIR also measures run() from another collections tree (DIR holds ansible_collections/), such
as a checkout of the previous commit, in the same rounds and against the same baseline; the lists it writes are
checked like the core's. benchmarks/corepath.py finds run() in either module layout.

The 2-core machine may be shared: the load average and other processes using more than 20 % CPU are
recorded before and after; rerun when they say the figures were disturbed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
COLLECTIONS = os.path.join(REPO, "collections")
WORK = os.path.join(HERE, "work")
for _p in (HERE, COLLECTIONS):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import gen_consistency  # noqa: E402
from benchutil import log, vm_hwm_kb  # noqa: E402

TARGET_RATIO = 0.4
TIMES = {  # the three dumps bracket each other, in the past; the run happens now (max_dump_age off)
    "catalog_before_time": "2026-11-20T00:00:00Z",
    "storage_dump_time": "2026-11-20T12:00:00Z",
    "catalog_after_time": "2026-11-21T00:00:00Z",
    "max_dump_age": "0",
}
BASELINE = r"""set -euo pipefail
export LC_ALL=C
cd "$1"
sort "$2/catalog_before" > B
sort "$2/storage" > S
sort "$2/catalog_after" > A
comm -23 S B | comm -23 - A > dark
comm -12 B A | comm -23 - S > lost
"""
# with compressed dumps the baseline decompresses into sort: CAT "$2/x" | sort > X
CAT = {"gzip": "zcat", "bzip2": "bzcat"}
SUFFIX = {"none": "", "gzip": ".gz", "bzip2": ".bz2"}


def baseline_script(compression):
    if compression == "none":
        return BASELINE
    cat = CAT[compression]
    sfx = SUFFIX[compression]
    out = BASELINE
    for name in ("catalog_before", "storage", "catalog_after"):
        out = out.replace('sort "$2/%s"' % name, '%s "$2/%s%s" | sort' % (cat, name, sfx))
    return out


def compressed_copy(data, compression):
    """The three dumps (and the companions) compressed with the standard tools, next to the plain ones; reused."""
    if compression == "none":
        return data, ""
    sub = os.path.join(data, compression)
    sfx = SUFFIX[compression]
    os.makedirs(sub, exist_ok=True)
    tool = {"gzip": ["gzip", "-6", "-c"], "bzip2": ["bzip2", "-9", "-c"]}[compression]
    for name in ("catalog_before", "storage", "catalog_after", "catalog_before.inactive", "catalog_after.inactive"):
        target_name = name.replace(".inactive", "") + ".inactive" + sfx if name.endswith(".inactive") else name + sfx
        target = os.path.join(sub, target_name)
        if os.path.exists(target) and os.path.getmtime(target) >= os.path.getmtime(os.path.join(data, name)):
            continue
        log("compressing %s with %s" % (name, tool[0]))
        with open(target + ".tmp", "wb") as out:
            subprocess.run(tool + [os.path.join(data, name)], stdout=out, check=True)
        os.replace(target + ".tmp", target)
    return sub, sfx


# ------------------------------------------------------------------------------------------
# the child: one run() of the core

def child_main(spec, collections=None):
    params = json.loads(spec)
    t0 = time.perf_counter()
    from corepath import import_run
    run = import_run("consistency", collections)
    t1 = time.perf_counter()
    result = run(params)
    t2 = time.perf_counter()
    print(json.dumps({"import_s": t1 - t0, "run_s": t2 - t1, "vm_hwm_kb": vm_hwm_kb(),
                      "dark": result["dark"], "lost": result["lost"], "run_dir": result["run_dir"],
                      "durations": result["stats"]["durations"], "engine": result["stats"]["engine"]}))


# ------------------------------------------------------------------------------------------
# the parent

def disk_usage(top):
    """Bytes allocated under top (files and directories), 0 when it does not exist."""
    total = 0
    stack = [top]
    while stack:
        d = stack.pop()
        try:
            with os.scandir(d) as it:
                for e in it:
                    try:
                        st = e.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    total += st.st_blocks * 512
                    if e.is_dir(follow_symlinks=False):
                        stack.append(e.path)
        except OSError:
            pass
    return total


class DiskWatch(threading.Thread):
    """Samples the disk usage of a directory every ``every`` seconds while a contender runs; keeps the peak."""

    def __init__(self, top, every=2.0):
        super().__init__(daemon=True)
        self.top, self.every, self.peak = top, every, 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, disk_usage(self.top))
            self.stop.wait(self.every)

    def done(self):
        self.stop.set()
        self.join()
        self.peak = max(self.peak, disk_usage(self.top))
        return self.peak


def timed(cmd, cwd=None, env=None, watch=None):
    """Run cmd under GNU time; (wall seconds, peak RSS KB of the largest process, cpu s, stdout).

    With ``watch`` (a directory), the peak disk use under it is sampled and left in timed.last_disk (bytes).
    """
    tf = tempfile.NamedTemporaryFile(prefix="bench-time-", delete=False)
    tf.close()
    full = ["/usr/bin/time", "-o", tf.name, "-f", "%M %U %S"] + cmd
    watcher = DiskWatch(watch) if watch else None
    if watcher:
        watcher.start()
    t = time.perf_counter()
    proc = subprocess.run(full, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t
    timed.last_disk = watcher.done() if watcher else None
    with open(tf.name) as f:
        lines = [ln for ln in f.read().splitlines() if ln.strip()]
    os.unlink(tf.name)
    if proc.returncode != 0:
        raise SystemExit("benchmark child failed (%s): %s\n%s" % (proc.returncode, " ".join(cmd), proc.stderr[-3000:]))
    rss, user, sys_ = lines[-1].split()
    return wall, int(rss), float(user) + float(sys_), proc.stdout


def load_snapshot():
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    busy = []
    try:
        out = subprocess.run(["ps", "-eo", "pcpu,pid,comm", "--sort=-pcpu"], stdout=subprocess.PIPE, text=True).stdout
        for line in out.splitlines()[1:]:
            parts = line.split(None, 2)
            if len(parts) == 3 and float(parts[0]) > 20.0 and int(parts[1]) != os.getpid():
                busy.append("%s(%s%%)" % (parts[2], parts[0]))
    except (OSError, ValueError):
        pass
    return {"loadavg": " ".join(load), "busy": busy}


def count_lines(path):
    n = 0
    with open(path, "rb") as f:
        for _ in f:
            n += 1
    return n


def run_baseline(data, scratch, compression="none"):
    script = os.path.join(scratch, "baseline.sh")
    with open(script, "w") as f:
        f.write(baseline_script(compression))
    out = os.path.join(scratch, "baseline")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    env = dict(os.environ, TMPDIR=out)
    wall, rss, cpu, _stdout = timed(["bash", script, out, data], env=env, watch=out)
    return {"wall": wall, "rss_kb": rss, "cpu": cpu, "dark": os.path.join(out, "dark"), "lost": os.path.join(out, "lost"),
            "disk_mb": timed.last_disk / 1048576.0}


def run_core(data, scratch, args, sfx="", collections=None):
    out = os.path.join(scratch, "runs")
    shutil.rmtree(out, ignore_errors=True)
    params = dict(TIMES, catalog_before=os.path.join(data, "catalog_before" + sfx),
                  storage_dump=os.path.join(data, "storage" + sfx),
                  catalog_after=os.path.join(data, "catalog_after" + sfx), output_dir=out,
                  temp_dir=os.path.join(scratch, "tmp"))
    if args.threads:
        params["threads"] = args.threads
    if args.memory_limit:
        params["memory_limit"] = args.memory_limit
    os.makedirs(params["temp_dir"], exist_ok=True)
    extra = ["--collections", collections] if collections else []
    wall, rss, cpu, stdout = timed([sys.executable, os.path.abspath(__file__), "--child", json.dumps(params)] + extra,
                                   watch=params["temp_dir"])
    child = json.loads(stdout.strip().splitlines()[-1])
    return {"wall": wall, "rss_kb": rss, "cpu": cpu, "run_s": child["run_s"], "vm_hwm_kb": child["vm_hwm_kb"],
            "durations": child["durations"], "engine": child["engine"],
            "dark": os.path.join(child["run_dir"], "dark.list"), "lost": os.path.join(child["run_dir"], "lost.list"),
            "counts": (child["dark"], child["lost"]), "disk_mb": timed.last_disk / 1048576.0}


def check(res, meta, name):
    for what in ("dark", "lost"):
        n = count_lines(res[what])
        if n != meta[what]:
            raise SystemExit("%s found %d %s entries, %d expected" % (name, n, what, meta[what]))


def same_file(a, b, relative=False):
    """The core's list equals the baseline's (with '/' put in front of each baseline line for relative paths)."""
    if not relative:
        return subprocess.run(["cmp", "-s", a, b]).returncode == 0
    with open(a, "rb") as fa, open(b, "rb") as fb:
        for la, lb in zip(fa, fb):
            if la != b"/" + lb:
                return False
        return fa.read(1) == b"" and fb.read(1) == b""


def summarise(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--paths", type=int, default=None, help="paths per dump (default 2,000,000; --quick 100,000)")
    ap.add_argument("--reps", type=int, default=None, help="counted rounds (default 5; --quick 3)")
    ap.add_argument("--quick", action="store_true", help="smoke run, well under a minute")
    ap.add_argument("--core-only", action="store_true", help="run the core only (completion and peak RSS)")
    ap.add_argument("--no-warmup", action="store_true")
    ap.add_argument("--threads", type=int, help="engine threads (default: the engine's default, one per core)")
    ap.add_argument("--memory-limit", help="engine memory_limit (default: the module's default)")
    ap.add_argument("--compression", choices=["none", "gzip", "bzip2"], default="none",
                    help="compress the three dumps (gzip -6 / bzip2 -9); the baseline then reads them with zcat/bzcat")
    ap.add_argument("--json", help="also write the figures as JSON to this file")
    ap.add_argument("--layouts", default="absolute,relative",
                    help="comma-separated: absolute (/store/...), relative (store/...); default both")
    ap.add_argument("--compact", action="store_true", help="short paths (the scale run)")
    ap.add_argument("--candidate", action="append", default=[], metavar="NAME=DIR",
                    help="also measure run() from another collections tree (such as a checkout of the previous "
                         "commit's collections/ directory), in the same rounds; its ratio is against the same baseline")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--collections", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child_main(args.child, args.collections)
    from corepath import parse_candidates
    candidates = dict(parse_candidates(args.candidate, taken=("core", "baseline")))
    paths = args.paths or (100_000 if args.quick else 2_000_000)
    reps = args.reps or (3 if args.quick else 5)

    layouts = [x.strip() for x in args.layouts.split(",") if x.strip()]
    datas, metas, inputs = {}, {}, {}
    for lay in layouts:
        tag = "cc-%d%s%s" % (paths, "-rel" if lay == "relative" else "", "-compact" if args.compact else "")
        datas[lay] = os.path.join(WORK, tag)
        log("data (%s): %s" % (lay, datas[lay]))
        metas[lay] = gen_consistency.generate(datas[lay], paths, relative=lay == "relative", compact=args.compact)
        inputs[lay] = compressed_copy(datas[lay], args.compression)
    scratch = os.path.join(WORK, "cc-scratch")
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch)
    contenders = []
    for lay in layouts:
        contenders += ([] if args.core_only else [("baseline", lay)]) + [("core", lay)]
        contenders += [(name, lay) for name in candidates]
    results = {c: [] for c in contenders}
    load = {"before": load_snapshot()}
    rounds = ([] if args.no_warmup else ["warmup"]) + list(range(reps))
    for i, rnd in enumerate(rounds):
        order = contenders[i % len(contenders):] + contenders[:i % len(contenders)]
        for c in order:
            kind, lay = c
            data, sfx = inputs[lay]
            if kind == "baseline":
                res = run_baseline(data, scratch, args.compression)
            else:
                res = run_core(data, scratch, args, sfx, candidates.get(kind))
            check(res, metas[lay], "%s (%s)" % c)
            detail = ""
            if kind != "baseline":
                detail = "  (run() %.2f s, VmHWM %d MB, phases %s)" % (
                    res["run_s"], res["vm_hwm_kb"] // 1024, json.dumps(res["durations"]))
            log("round %s %-8s %-8s %7.2f s  peak RSS %4d MB%s" % (rnd, kind, lay, res["wall"], res["rss_kb"] // 1024,
                                                                   detail))
            if rnd != "warmup":
                results[c].append(res)
            if kind != "baseline" and not args.core_only and rnd in (0, "warmup") and results.get(("baseline", lay)):
                b = results[("baseline", lay)][-1]
                rel = lay == "relative"
                if not (same_file(res["dark"], b["dark"], rel) and same_file(res["lost"], b["lost"], rel)):
                    raise SystemExit("the core's lists differ from the baseline's (%s)" % lay)
    load["after"] = load_snapshot()

    fig = {"paths": paths, "reps": reps, "compression": args.compression, "load": load, "compact": args.compact,
           "machine": {"nproc": os.cpu_count()}, "layouts": {},
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    print("\nconsistency_check, %d paths per dump, %s, %d rounds (median [min-max])"
          % (paths, "plain text" if args.compression == "none" else "text, " + args.compression, reps))
    for lay in layouts:
        lf = fig["layouts"][lay] = {}
        for kind in ("baseline", "core"):
            rs = results.get((kind, lay))
            if not rs:
                continue
            lf[kind] = {"wall": summarise([r["wall"] for r in rs]), "rss_mb": max(r["rss_kb"] for r in rs) / 1024.0,
                        "cpu": summarise([r["cpu"] for r in rs]), "temp_disk_mb": max(r["disk_mb"] for r in rs)}
        core = results[("core", lay)]
        lf["core"]["run_s"] = summarise([r["run_s"] for r in core])
        lf["core"]["vm_hwm_mb"] = max(r["vm_hwm_kb"] for r in core) / 1024.0
        lf["core"]["engine"] = core[-1]["engine"]
        lf["core"]["phases"] = core[len(core) // 2]["durations"]
        if "baseline" in lf:
            lf["ratio"] = lf["core"]["wall"]["median"] / lf["baseline"]["wall"]["median"]
            lf["target_ratio"] = TARGET_RATIO
        for name in candidates:
            rs = results[(name, lay)]
            cf = lf.setdefault("candidates", {})[name] = {
                "collections": os.path.relpath(candidates[name], REPO),
                "wall": summarise([r["wall"] for r in rs]), "rss_mb": max(r["rss_kb"] for r in rs) / 1024.0,
                "run_s": summarise([r["run_s"] for r in rs]), "vm_hwm_mb": max(r["vm_hwm_kb"] for r in rs) / 1024.0}
            if "baseline" in lf:
                cf["ratio"] = cf["wall"]["median"] / lf["baseline"]["wall"]["median"]
        print(" %s paths:" % lay)
        for kind in ("baseline", "core"):
            if kind in lf:
                f = lf[kind]
                print("  %-9s %7.2f s [%.2f-%.2f]  cpu %6.2f s  peak RSS %5.0f MB  peak temporary disk %6.0f MB" % (
                    kind, f["wall"]["median"], f["wall"]["min"], f["wall"]["max"], f["cpu"]["median"], f["rss_mb"],
                    f["temp_disk_mb"]))
        print("  core run() %.2f s median; VmHWM %.0f MB; engine %s" % (
            lf["core"]["run_s"]["median"], lf["core"]["vm_hwm_mb"], json.dumps(lf["core"]["engine"])))
        for name, cf in sorted(lf.get("candidates", {}).items()):
            print("  candidate %s (%s): %7.2f s [%.2f-%.2f], run() %.2f s, VmHWM %.0f MB%s" % (
                name, cf["collections"], cf["wall"]["median"], cf["wall"]["min"], cf["wall"]["max"],
                cf["run_s"]["median"], cf["vm_hwm_mb"],
                ", ratio %.3f against the same baseline" % cf["ratio"] if "ratio" in cf else ""))
        if "ratio" in lf:
            print("  ratio core/baseline %.2f (target <= %.1f%s)" % (
                lf["ratio"], TARGET_RATIO, " at 2,000,000 paths; at this size the fixed start-up of the Python child "
                "dominates" if paths < 1_000_000 else ""))
    first = fig["layouts"][layouts[0]]          # the top-level figures (what benchmarks/run.py reads): first layout
    for k in ("baseline", "core", "ratio", "target_ratio", "candidates"):
        if k in first:
            fig[k] = first[k]
    print("  load before %s %s; after %s %s" % (load["before"]["loadavg"], " ".join(load["before"]["busy"]),
                                                load["after"]["loadavg"], " ".join(load["after"]["busy"])))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(fig, f, indent=2)
    shutil.rmtree(scratch, ignore_errors=True)
    return fig


if __name__ == "__main__":
    main()
