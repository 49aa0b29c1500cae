#!/usr/bin/env python3
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Run the benchmarks and update benchmarks/RESULTS.md (``make bench``).

    .venv/bin/python benchmarks/run.py [--only posix|xrootd|dpm|consistency] [--files N] [--reps N]
                                       [--quick] [--profile] [--output FILE] [--candidate NAME=DIR]
                                       [--quiet-wait SECONDS] [--retries N]

posix, xrootd and dpm are the se_dump benchmarks of bench_se_dump.py (``--files``, ``--reps``,
``--profile`` apply to them); consistency is bench_consistency.py, run as a child with its own defaults
(``--quick`` and every ``--candidate`` are passed on). ``--candidate NAME=DIR`` measures the core of another
collections tree (such as the previous commit's) in the same rounds as this tree's, in every benchmark.

Each benchmark owns one section of RESULTS.md (between ``<!-- bench:NAME -->`` markers); a run
replaces the sections of the benchmarks it ran and keeps the others, each with its own date,
command and machine state. ``--quick`` (the smoke run) writes benchmarks/work/RESULTS-quick.md
instead, so a smoke run never overwrites the recorded figures.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bench_se_dump as bench  # noqa: E402

RESULTS = os.path.join(HERE, "RESULTS.md")
SE_DUMP = ("posix", "xrootd", "dpm")
# benchmarks of other cores that live in their own script (run as a child with --json)
EXTERNAL = {"consistency": ("bench_consistency.py", "consistency_check vs sort + comm"),
            "package_report": ("bench_package_report.py", "package_report vs pakiti-client's commands")}
ORDER = SE_DUMP + tuple(EXTERNAL)
TITLES = {"posix": "POSIX walk vs find", "xrootd": "XRootD listing vs xrdfs ls -l -R",
          "dpm": "DPM database vs the mysql client"}
TITLES.update((k, v[1]) for k, v in EXTERNAL.items())


def _out(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def _dpkg(pkg):
    v = _out(["dpkg-query", "-W", "-f=${Version}", pkg])
    return v or "not installed"


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            mem = "%.1f GiB" % (kb / 1048576.0)
    except (OSError, ValueError, IndexError):
        pass
    fs = _out(["findmnt", "-n", "-o", "FSTYPE", "--target", HERE]) or "?"
    return [
        ("nproc", str(os.cpu_count())),
        ("CPU", cpu),
        ("memory", mem),
        ("kernel", platform.release()),
        ("OS", _out(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"])),
        ("filesystem of benchmarks/work", fs),
        ("Python", "%s (%s)" % (platform.python_version(), sys.executable)),
        ("MariaDB", _dpkg("mariadb-server")),
        ("XRootD (server / client / python3-xrootd)", "%s / %s / %s" % (
            _dpkg("xrootd-server"), _dpkg("xrootd-client"), _dpkg("python3-xrootd"))),
        ("MySQL driver (python3-mysqldb)", _dpkg("python3-mysqldb")),
        ("findutils", _dpkg("findutils")),
    ]


def _fmt_rows(r):
    lines = ["| contender | command | median s | min s | max s | process wall s | CPU s | peak RSS MiB | ratio |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in r["rows"]:
        lines.append("| %s | %s | %.3f | %.3f | %.3f | %.3f | %.2f | %s | **%.3f** |" % (
            row["name"], row["label"].replace("|", "\\|"), row["median_s"], row["min_s"], row["max_s"],
            row["proc_median_s"], row["cpu_median_s"],
            "-" if row["peak_rss_mib"] is None else "%.1f" % row["peak_rss_mib"], row["ratio"]))
    return lines


def run_external(name, quick, quiet_wait, candidates=()):
    """Run benchmarks/<script> --json as a child (with the --candidate trees); None when the script is not there."""
    script = os.path.join(HERE, EXTERNAL[name][0])
    if not os.path.exists(script):
        return None
    if quiet_wait:
        bench.wait_quiet(quiet_wait)
    jf = os.path.join(bench.WORK, "results-%s.json" % name)
    if os.path.exists(jf):
        os.unlink(jf)
    argv = [sys.executable, script, "--json", jf] + (["--quick"] if quick else [])
    argv += ["--candidate=%s=%s" % c for c in candidates]
    before = bench.quiet_check()
    dist = bench.Disturbance()
    t0 = time.time()
    proc = subprocess.run(argv, stdout=subprocess.PIPE, text=True)
    wall = time.time() - t0
    during = dist.stop()
    sys.stdout.write(proc.stdout)
    fig = None
    if proc.returncode == 0 and os.path.exists(jf):
        with open(jf) as f:
            fig = json.load(f)
    return {"name": name, "external": True, "script": EXTERNAL[name][0], "argv": argv[2:], "rc": proc.returncode,
            "fig": fig, "stdout": proc.stdout, "others_pct_before": before, "others_during": during,
            "loadavg_before": None, "loadavg_after": bench.loadavg(), "wall_total_s": round(wall, 1)}


def external_section(r, command, when):
    out = ["<!-- bench:%s -->" % r["name"], "## %s" % TITLES[r["name"]], ""]
    fig = r["fig"]
    if fig is None:
        out += ["`benchmarks/%s` failed (exit %s); its output:" % (r["script"], r["rc"]), "", "```",
                r["stdout"].strip()[-3000:], "```"]
    elif isinstance(fig.get("markdown"), list):
        # a benchmark that words its own figures (its --json holds the section body as Markdown lines)
        out += ["Figures from `benchmarks/%s` (see that script for what is measured)." % r["script"], ""]
        out += [str(line) for line in fig["markdown"]]
    else:
        try:
            out += ["Figures from `benchmarks/%s` (see that script for what is measured); %s paths per dump, "
                    "compression %s, %s counted rounds, median [min–max]; every contender in the same rounds, in "
                    "rotated order." % (r["script"], fig.get("paths"), fig.get("compression"), fig.get("reps"))]
            for lay, lf in sorted(fig.get("layouts", {"": fig}).items()):
                out += ["", "%s:" % ("%s paths" % lay if lay else "Paths"), "",
                        "| contender | median s | min s | max s | peak RSS MiB | ratio to baseline |",
                        "| --- | ---: | ---: | ---: | ---: | ---: |"]
                rows = [(c, lf[c]) for c in ("baseline", "core") if c in lf]
                rows += [("candidate %s (`%s`)" % (n, c["collections"]), c)
                         for n, c in sorted(lf.get("candidates", {}).items())]
                base = lf.get("baseline", {}).get("wall", {}).get("median")
                for label, f in rows:
                    out.append("| %s | %.2f | %.2f | %.2f | %.0f | %s |" % (
                        label, f["wall"]["median"], f["wall"]["min"], f["wall"]["max"], f["rss_mb"],
                        "%.3f" % (f["wall"]["median"] / base) if base else "-"))
            if "ratio" in fig:
                out += ["", "Ratio core / baseline: **%.3f** (target <= %s — %s)." % (
                    fig["ratio"], fig.get("target_ratio"),
                    "met" if fig["ratio"] <= fig.get("target_ratio", float("inf")) else "**missed**")]
        except (KeyError, TypeError, ValueError):
            out += ["```", r["stdout"].strip()[-3000:], "```"]
    d = r["others_during"]
    out += ["", "Machine state: other processes used %s%% of the CPUs just before and %s%% (%s CPU s) during the "
            "%s s of the run.%s" % (r["others_pct_before"], d["foreign_pct"], d["foreign_cpu_s"], d["wall_s"],
                                   " **Disturbed by other work on the machine: these figures are not "
                                   "representative.**" if bench.disturbed(r) else "")]
    out += ["", "Measured %s with `%s` (that ran `benchmarks/%s %s`, %.0f s)." % (
        when, command, r["script"], " ".join(shlex.quote(x) for x in r["argv"]), r["wall_total_s"])]
    out += ["<!-- /bench:%s -->" % r["name"]]
    return "\n".join(out)


def section(r, command, when):
    if r.get("external"):
        return external_section(r, command, when)
    core = [x for x in r["rows"] if x["name"] == "core"][0]
    verdict = "met" if core["ratio"] <= r["target"] else "**missed**"
    out = ["<!-- bench:%s -->" % r["name"],
           "## %s" % TITLES[r["name"]], "",
           "%d files in %d directories; %d measured repetitions after one warm-up, median; ratio = core / "
           "baseline in the same run." % (r["files"], r["dirs"], r["reps"]), ""]
    out += _fmt_rows(r)
    out += ["", "Target: ratio <= %.1f — %.3f, %s." % (r["target"], core["ratio"], verdict)]
    if "rss" in r:
        m = r["rss"]
        out += ["", "Peak RSS of the core process (its VmHWM): %.1f MiB at %d files, %.1f MiB at %d files, with the "
                "same %d directories (growth %+.1f MiB for %dx the files)."
                % (m["rss_quarter_mib"], m["files_quarter"], m["rss_full_mib"], m["files_full"], r["dirs"],
                   m["growth_mib"], m["files_full"] // max(1, m["files_quarter"]))]
    if r.get("server"):
        out += ["", "Server: %s." % r["server"]]
    out += ["", "Samples (s): " + "; ".join("%s %s" % (row["name"], ", ".join("%.3f" % s for s in row["samples_s"]))
                                            for row in r["rows"])]
    d = r["others_during"]
    out += ["", "Machine state: other processes used %s%% of the CPUs just before and %s%% (%s CPU s) during the "
            "%s s of measurement; load average %s before, %s after.%s"
            % (r["others_pct_before"], d["foreign_pct"], d["foreign_cpu_s"], d["wall_s"], r["loadavg_before"],
               r["loadavg_after"], " **Disturbed by other work on the machine: these figures are not "
               "representative.**" if bench.disturbed(r) else "")]
    out += ["", "Measured %s with `%s` (%.0f s; attempt %d of %d)." % (
        when, command, r["wall_total_s"], r.get("attempt", 1), r.get("attempts", 1))]
    out += ["<!-- /bench:%s -->" % r["name"]]
    return "\n".join(out)


HEAD = """# se_dump benchmarks — results

Produced by `benchmarks/run.py` (see benchmarks/README.md for what is measured and how). "median s"
is the wall time of `run()` of the core measured inside its child process (import time excluded)
and the wall time of the baseline process; "process wall s" is the whole child process
(interpreter start and imports included). Every figure comes from one run in which the core and
its baseline alternate on the same data.
"""


def _sections(text):
    return dict((m.group(1), m.group(0)) for m in
                re.finditer(r"<!-- bench:(\w+) -->.*?<!-- /bench:\1 -->", text, re.S))


def write(results, command, path, extra_notes=None):
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    old = {}
    notes = ""
    if os.path.exists(path):
        with open(path) as f:
            text = f.read()
        old = _sections(text)
        m = re.search(r"<!-- notes -->.*?<!-- /notes -->", text, re.S)
        notes = m.group(0) if m else ""
    new = dict(old)
    for r in results:
        new[r["name"]] = section(r, command, when)
    parts = [HEAD, "## Machine", "", "| | |", "| --- | --- |"]
    parts += ["| %s | %s |" % kv for kv in machine()]
    parts += ["", "Machine facts as of %s." % when, ""]
    parts += [new[k] + "\n" for k in ORDER if k in new]
    if extra_notes:
        notes = "<!-- notes -->\n%s\n<!-- /notes -->" % extra_notes
    if notes:
        parts += [notes, ""]
    with open(path, "w") as f:
        f.write("\n".join(parts))
    return path


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", action="append", choices=ORDER)
    ap.add_argument("--files", type=int)
    ap.add_argument("--reps", type=int)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--output", help="results file (default RESULTS.md; work/RESULTS-quick.md with --quick)")
    ap.add_argument("--candidate", action="append", default=[], metavar="NAME=DIR")
    ap.add_argument("--quiet-wait", type=float, default=None, metavar="SECONDS",
                    help="wait up to SECONDS for a quiet machine before each benchmark (default 600; 0 with --quick)")
    ap.add_argument("--retries", type=int, default=None,
                    help="rerun a disturbed benchmark up to N times (default 2; 0 with --quick)")
    a = ap.parse_args(argv)
    bench.set_candidates(a.candidate)
    quiet = a.quiet_wait if a.quiet_wait is not None else (0 if a.quick else 600)
    retries = a.retries if a.retries is not None else (0 if a.quick else 2)
    only = a.only or list(ORDER)
    results = []
    se = [x for x in only if x in SE_DUMP]
    if se:
        results += bench.run_benchmarks(se, a.files, a.reps, a.quick, a.profile, quiet, retries)
    for name in only:
        if name in EXTERNAL:
            r = run_external(name, a.quick, quiet, bench.CANDIDATES)
            if r is not None:
                results.append(r)
    command = " ".join([".venv/bin/python", "benchmarks/run.py"] + [shlex.quote(x) for x in argv])
    out = a.output or (os.path.join(bench.WORK, "RESULTS-quick.md") if a.quick else RESULTS)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(os.path.join(bench.WORK, "results-last.json"), "w") as f:
        json.dump(results, f, indent=1)
    print("\nresults written to %s" % write(results, command, out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
