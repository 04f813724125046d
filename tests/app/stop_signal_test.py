#!/usr/bin/python3
"""SIGTERM (Slurm's preemption and time limit) during every long stage of a `bsmhunt run`
job (issue #19): generate, extract, train and predict each stop within seconds with exit
75 and a message saying where; no output a later stage accepts is left (training leaves
its checkpoint); the next `bsmhunt run` continues, and after the last interruption every
output is identical to an uninterrupted run's. The signal goes to every rank, as Slurm
sends it to every task, at a moment the stage is seen writing.

Usage: stop_signal_test.py BSMHUNT WORKDIR"""
import glob
import os
import shutil
import signal
import subprocess
import sys
import time

BSMHUNT, WORK = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
SOURCE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")
OUT, STRAIGHT, JOB = os.path.join(WORK, "out"), os.path.join(WORK, "straight"), os.path.join(WORK, "job.ini")

JOB_TEXT = """[job]
description = stop test
stages = generate, extract, train, predict

[generate]
channel = dilepton_met
events = 400000
signal-events = 2000
lumi-ifb = 1
pseudo-data = false
block-events = 8192
samples = dy_ee,dy_mumu,ttbar_dilep,ww_lvlv,zz_llvv,zp_DH_HDS_m130_ee,zp_DH_HDS_m130_mumu

[extract]
block-events = 8192

[train]
model = mlp
signal-samples = zp_DH_HDS_m130_*
hidden = 32,32
batch-size = 256
epochs = 6
checkpoint-every = 20

[predict]
chunk-rows = 4096
"""

# stage -> (file that shows it is writing, its output)
STAGES = [
    ("generate", "events.h5.spool.1", "events.h5"),
    ("extract", "features.h5.spool.1", "features.h5"),
    ("train", "mlp_model.h5.checkpoint.h5", "mlp_model.h5"),
    ("predict", "mlp_scores.h5.spool.1", "mlp_scores.h5"),
]
OUTPUTS = ["events.h5", "features.h5", "mlp_model.h5", "mlp_scores.h5"]


def run_job(**kw):
    return subprocess.Popen(["mpirun", "-n", "2", BSMHUNT, "run", JOB, "--output-dir", OUT, "--collective-timeout",
                             "60"], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def rank_pids():
    """The bsmhunt processes of this job."""
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
            if cmd and os.path.basename(cmd[0].decode()) == "bsmhunt" and OUT.encode() in b" ".join(cmd):
                pids.append(int(pid))
        except OSError:
            continue
    return pids


def h5compare(a, b):
    p = subprocess.run(["/usr/bin/python3", os.path.join(SOURCE, "tools", "h5compare"), a, b, "--ignore-dataset",
                        "/history/seconds"], capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    with open(JOB, "w") as f:
        f.write(JOB_TEXT)
    straight = run_job()
    log, _ = straight.communicate(timeout=900)
    if straight.returncode != 0:
        sys.exit(f"the uninterrupted run failed:\n{log}")
    os.rename(OUT, STRAIGHT)
    failures = []
    for stage, marker, output in STAGES:
        run = run_job()
        t0, signalled = time.monotonic(), None
        while run.poll() is None and time.monotonic() - t0 < 600:
            if os.path.exists(os.path.join(OUT, marker)):
                pids = rank_pids()
                if len(pids) == 2:
                    for pid in pids:
                        os.kill(pid, signal.SIGTERM)
                    signalled = time.monotonic()
                    break
            time.sleep(0.005)
        try:
            log, _ = run.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            run.kill()
            log, _ = run.communicate()
            failures.append(f"{stage}: the job did not stop within 120 s of SIGTERM")
        if signalled is None:
            failures.append(f"{stage}: never saw {marker} with both ranks alive (exit {run.returncode}):\n{log[-1500:]}")
            continue
        took = time.monotonic() - signalled
        print(f"{stage}: SIGTERM {signalled - t0:.1f} s into the run; exit {run.returncode} {took:.1f} s later")
        if run.returncode != 75:
            failures.append(f"{stage}: exit {run.returncode}, expected 75:\n{log[-2000:]}")
        if took > 20:
            failures.append(f"{stage}: took {took:.0f} s to stop, expected seconds")
        expected = "checkpoint written" if stage == "train" else f"{stage}: stopped by signal 15 (SIGTERM)"
        if expected not in log:
            failures.append(f"{stage}: the log does not say '{expected}':\n{log[-2000:]}")
        if os.path.exists(os.path.join(OUT, output)):
            failures.append(f"{stage}: {output} exists after the stop")
        leftovers = [p for p in glob.glob(os.path.join(OUT, output + "*"))
                     if not p.endswith(".checkpoint.h5")]
        if leftovers:
            failures.append(f"{stage}: left behind {leftovers}")
    final = run_job()
    log, _ = final.communicate(timeout=900)
    if final.returncode != 0:
        failures.append(f"the run after the stops failed:\n{log[-3000:]}")
    else:
        for f in OUTPUTS:
            code, text = h5compare(os.path.join(STRAIGHT, f), os.path.join(OUT, f))
            if code != 0:
                failures.append(f"{f} differs from the uninterrupted run's:\n{text[-1500:]}")
    if failures:
        print("FAILED:\n" + "\n\n".join(failures))
        sys.exit(1)
    print(f"SIGTERM in {len(STAGES)} stages: each stopped with exit 75, left nothing a later stage accepts, and the "
          "final run matches the uninterrupted one")


if __name__ == "__main__":
    main()
