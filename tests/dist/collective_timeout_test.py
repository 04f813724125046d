#!/usr/bin/env python3
"""--collective-timeout (issue #19): a job with a hung rank ends within the timeout plus a
few seconds, exit 124, with a message from the waiting ranks naming the stage and the
collective; without a hang, or with the watchdog off, the job completes.
Usage: collective_timeout_test.py PROBE BSMHUNT"""
import os
import subprocess
import sys
import tempfile
import time

probe, bsmhunt = sys.argv[1], sys.argv[2]
env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")


def job(ranks, *args, limit=120):
    t0 = time.monotonic()
    p = subprocess.run(["mpirun", "-n", str(ranks), "--oversubscribe", *args], env=env, capture_output=True,
                       text=True, timeout=limit)
    return p.returncode, p.stdout + p.stderr, time.monotonic() - t0


failures = []


def expect(cond, what, output=""):
    if not cond:
        failures.append(f"{what}\n{output}")


# Rank 1 (then rank 2 of 3) hangs for 90 s; the others wait with a 3 s timeout.
for ranks, hung in ((2, 1), (3, 2), (2, 0)):
    code, out, seconds = job(ranks, probe, "3", str(hung), "90")
    expect(code == 124, f"{ranks} ranks, rank {hung} hung: exit {code}, expected 124", out)
    expect(seconds < 3 + 20, f"{ranks} ranks, rank {hung} hung: the job took {seconds:.1f} s", out)
    waiting = [r for r in range(ranks) if r != hung]
    expect(any(f"rank {r} of {ranks} has waited" in out for r in waiting),
           f"{ranks} ranks: no waiting rank reported", out)
    expect(f"rank {hung} of {ranks} has waited" not in out, f"the hung rank {hung} reported waiting", out)
    expect("probe stage" in out and "MPI_Allreduce" in out and "--collective-timeout 3" in out,
           "the message names the stage, the collective and the timeout", out)
    expect("ranks arrived" not in out, "the job completed although a rank was hung", out)

# A rank 2 s late with a 10 s timeout, and a rank 4 s late with the watchdog off: both complete.
for timeout, hang in (("10", "2"), ("0", "4")):
    code, out, seconds = job(2, probe, timeout, "1", hang)
    expect(code == 0 and "all 2 ranks arrived" in out, f"timeout {timeout}, {hang} s late: exit {code}", out)

# A read that never ends (HDF5 1.10 on some damaged files), on 1 rank and on rank 1 of 2:
# the watchdog ends the job naming what was read; a read shorter than the timeout completes.
for ranks in (1, 2):
    hung = ranks - 1
    code, out, seconds = job(ranks, probe, "3", str(hung), "90", "read")
    expect(code == 124, f"{ranks} rank(s), a read of rank {hung} never ends: exit {code}, expected 124", out)
    expect(seconds < 3 + 20, f"{ranks} rank(s), endless read: the job took {seconds:.1f} s", out)
    expect(f"rank {hung} of {ranks} has spent" in out and "reading probe.h5:/: attribute 'format'" in out and
           "--collective-timeout 3" in out, "the message names the rank, what it read and the timeout", out)
code, out, seconds = job(1, probe, "10", "0", "2", "read")
expect(code == 0 and "all 1 ranks arrived" in out, f"a read of 2 s under a 10 s timeout: exit {code}", out)

# A report longer than the timeout on rank 0 (its Python may take minutes): the other
# rank waits unwatched and the job completes.
with tempfile.TemporaryDirectory() as tmp:
    script = os.path.join(tmp, "slow_report.py")
    with open(script, "w") as f:
        f.write("import os, sys, time\ntime.sleep(5)\nd = sys.argv[sys.argv.index('--output-dir') + 1]\n"
                "os.makedirs(d, exist_ok=True)\nopen(os.path.join(d, 'index.html'), 'w').write('ok')\n")
    code, out, seconds = job(2, bsmhunt, "report", "--python", sys.executable, "--script", script, "--output-dir",
                             os.path.join(tmp, "report"), "--collective-timeout", "2")
    expect(code == 0 and os.path.exists(os.path.join(tmp, "report", "index.html")),
           f"a 5 s report under a 2 s timeout on 2 ranks: exit {code}", out)

# The command-line option: listed with its default, bad values refused.
code, out, _ = job(1, bsmhunt, "inspect", "--help")
expect("--collective-timeout arg (=300)" in out, "inspect --help lists --collective-timeout (=300)", out)
code, out, _ = job(1, bsmhunt, "inspect", "--input", "none.h5", "--collective-timeout", "-1")
expect(code == 2 and "--collective-timeout -1: expected seconds >= 0" in out, f"a negative timeout: exit {code}", out)

if failures:
    print("FAILED:\n" + "\n\n".join(failures))
    sys.exit(1)
print("collective timeout: all cases passed")
