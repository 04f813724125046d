#!/usr/bin/env python3
"""A rank that fails at an arbitrary point of a stage while the others go on (issue #19):
with BSMHUNT_INJECT_FAULT=1:N, rank 1 of 2 throws instead of entering its N-th collective
(dist/Watchdog.hpp). For every stage (generate, extract, train, predict, significance,
limits, the peak fit, the bump hunt and the report) and a few N, the job must end within
the collective timeout plus a few seconds (by the failing rank's abort or the waiting
rank's watchdog), say which rank failed and why, exit non-zero, and leave the stage's
output absent.

Usage: fault_injection_test.py BSMHUNT WORKDIR"""
import os
import shutil
import subprocess
import sys
import time

BSMHUNT, WORK = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")
TIMEOUT = 10  # --collective-timeout of every job


def w(name):
    return os.path.join(WORK, name)


def run(args, fault=None):
    env = dict(ENV, BSMHUNT_INJECT_FAULT=fault) if fault else ENV
    cmd = ["mpirun", "-n", "2", "-x", "BSMHUNT_INJECT_FAULT", BSMHUNT, *args] if fault else ["mpirun", "-n", "2",
                                                                                            BSMHUNT, *args]
    t0 = time.monotonic()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=WORK)
    return p.returncode, p.stdout + p.stderr, time.monotonic() - t0


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    common = ["--log-level", "warn", "--collective-timeout", str(TIMEOUT), "--overwrite"]
    # (name, arguments, output, how the output is named, the collectives to fail at)
    stages = [
        ("generate", ["generate", "--channel", "dilepton_met", "--events", "40000", "--signal-events", "300",
                      "--seed", "3", "--summary", "false"], "events.h5"),
        ("extract", ["extract", "--input", w("events.h5")], "features.h5"),
        ("train", ["train", "--features", w("features.h5"), "--epochs", "2", "--hidden", "8"], "model.h5"),
        ("predict", ["predict", "--model", w("model.h5"), "--features", w("features.h5")], "scores.h5"),
        ("significance", ["significance", "--scores", w("scores.h5"), "--output-h5", w("significance.h5")],
         "significance.json"),
        ("limits", ["limits", "--histograms", w("significance.h5"), "--signal", "zp_DH_HDS_m130_*",
                    "--output-h5", w("limits.h5")], "limits.json"),
        # The Z peak of m_ll with pseudo-experiments spread over the ranks.
        ("fit", ["fit", "--input", w("features.h5"), "--mass-bins", "66:116:25", "--samples", "background",
                 "--peak", "gauss", "--background", "exp", "--toys", "40", "--output-h5", w("fit.h5")], "fit.json"),
        # CWoLa classifiers trained over both ranks, around the Z peak of m_ll.
        ("bumphunt", ["bumphunt", "--features", w("features.h5"), "--mass-bins", "60:120:12",
                      "--background", "linear", "--regions", "5", "--folds", "3", "--ensemble", "1",
                      "--epochs", "2", "--hidden", "8", "--efficiencies", "1,0.2"], "bumphunt.json"),
    ]
    failures, checked = [], 0
    for name, args, output in stages:
        for n in (2, 12):
            for f in os.listdir(WORK):  # outputs of this stage from a run that had nothing to inject
                if f.startswith(os.path.splitext(output)[0]):
                    os.remove(w(f))
            code, out, seconds = run(args + common + ["--output", w(output)], fault=f"1:{n}")
            if "fault injected on rank 1" not in out:
                if code == 0:  # the stage makes fewer collectives: nothing to inject
                    print(f"{name}, collective #{n}: the stage has fewer collectives")
                    continue
                failures.append(f"{name}, collective #{n}: exit {code} without the failing rank's message:\n{out[-1500:]}")
            checked += 1
            print(f"{name}, fault at rank 1's collective #{n}: exit {code} after {seconds:.1f} s")
            if code == 0:
                failures.append(f"{name}, collective #{n}: the job succeeded")
            if seconds > TIMEOUT + 20:
                failures.append(f"{name}, collective #{n}: the job took {seconds:.0f} s")
            if os.path.exists(w(output)):
                failures.append(f"{name}, collective #{n}: {output} was written")
            if any(f.endswith(".partial") and code != 124 for f in os.listdir(WORK)):
                failures.append(f"{name}, collective #{n}: a .partial was left: {os.listdir(WORK)}")
        code, out, _ = run(args + common + ["--output", w(output)])  # the next stage's input
        if code != 0:
            sys.exit(f"{name} without a fault failed ({code}):\n{out[-2000:]}")
    # The report: rank 0 runs the plotting script while rank 1 waits in the stage's one
    # collective, or throws instead of entering it.
    report = ["report", "--output-dir", w("report"), "--significance", w("significance.json"), "--fit", w("fit.json"),
              "--bumphunt", w("bumphunt.json"), "--log-level", "warn", "--overwrite"]
    code, out, seconds = run(report + ["--collective-timeout", str(TIMEOUT)], fault="1:1")
    checked += 1
    print(f"report, fault at rank 1's collective #1: exit {code} after {seconds:.1f} s")
    if code == 0 or "fault injected on rank 1" not in out:
        failures.append(f"report, collective #1: exit {code} without the failing rank's message:\n{out[-1500:]}")
    if seconds > TIMEOUT + 20:
        failures.append(f"report, collective #1: the job took {seconds:.0f} s")
    if os.path.exists(w("report/index.html")):
        failures.append("report, collective #1: report/index.html was written")
    # Without a fault, with the default timeout: rank 1 waits while rank 0 plots, which
    # can take longer than the 10 s that bound the faulty runs on a loaded machine.
    code, out, _ = run(report)
    if code != 0 or not os.path.exists(w("report/index.html")):
        failures.append(f"the report without a fault failed ({code}):\n{out[-1500:]}")
    if checked < 12:
        failures.append(f"only {checked} faults were injected")
    if failures:
        print("FAILED:\n" + "\n\n".join(failures))
        sys.exit(1)
    print(f"fault injection: {checked} faults in {len(stages) + 1} stages (the report included), every job ended within {TIMEOUT + 20} s")


if __name__ == "__main__":
    main()
