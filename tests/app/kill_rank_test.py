#!/usr/bin/env python3
"""Kill -9 of one rank (rank 1 of 2, not rank 0) in the middle of generate, extract, train
and predict of a `bsmhunt run` job (issue #19): each time the job ends by itself (no hang),
the interrupted stage leaves no output a later stage accepts, and the next `bsmhunt run`
continues; after the last one the outputs are identical to an uninterrupted run's.
The kill comes when the stage is observed writing (its spool file, or the training
checkpoint, exists), not after a fixed sleep.

Usage: kill_rank_test.py BSMHUNT WORKDIR"""
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
description = kill test
stages = generate, extract, train, predict, significance

[generate]
channel = dilepton_met
events = 300000
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
chunk-rows = 8192

[significance]
channels = ee: channel_flag == 0; mumu: channel_flag == 1
"""

# stage -> (file that shows it is writing, the stage's final output)
STAGES = [
    ("generate", "events.h5.spool.1", "events.h5"),
    ("extract", "features.h5.spool.1", "features.h5"),
    ("train", "mlp_model.h5.checkpoint.h5", "mlp_model.h5"),
    ("predict", "mlp_scores.h5.spool.1", "mlp_scores.h5"),
]
OUTPUTS = ["events.h5", "features.h5", "mlp_model.h5", "mlp_scores.h5", "mlp_significance.h5"]


def start_run():
    return subprocess.Popen(["mpirun", "-n", "2", BSMHUNT, "run", JOB, "--output-dir", OUT,
                             "--collective-timeout", "60"], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def rank_pid(rank):
    """The bsmhunt process of `rank` in this job (from its environment)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
            if not cmd or os.path.basename(cmd[0].decode()) != "bsmhunt" or OUT.encode() not in b" ".join(cmd):
                continue
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
            if f"OMPI_COMM_WORLD_RANK={rank}".encode() in env:
                return int(pid)
        except OSError:
            continue
    return None


def h5compare(a, b):
    p = subprocess.run(["/usr/bin/python3", os.path.join(SOURCE, "tools", "h5compare"), a, b, "--ignore-dataset",
                        "/history/seconds"], capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def without_timing(path):
    with open(path) as f:
        return [line for line in f if '"fill_seconds"' not in line]


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    with open(JOB, "w") as f:
        f.write(JOB_TEXT)
    straight = subprocess.run(["mpirun", "-n", "2", BSMHUNT, "run", JOB, "--output-dir", OUT], env=ENV,
                              capture_output=True, text=True, timeout=900)
    if straight.returncode != 0:
        sys.exit(f"the uninterrupted run failed:\n{straight.stdout}{straight.stderr}")
    os.rename(OUT, STRAIGHT)
    failures = []
    for stage, marker, output in STAGES:
        run = start_run()
        t0 = time.monotonic()
        killed = None
        while run.poll() is None and time.monotonic() - t0 < 600:
            if os.path.exists(os.path.join(OUT, marker)):
                pid = rank_pid(1)
                if pid:
                    os.kill(pid, signal.SIGKILL)
                    killed = time.monotonic()
                    break
            time.sleep(0.005)
        try:
            log, _ = run.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            run.kill()
            log, _ = run.communicate()
            failures.append(f"{stage}: the job did not end within 120 s of the kill")
        ended = time.monotonic()
        if killed is None:
            failures.append(f"{stage}: never saw {marker} with rank 1 alive (exit {run.returncode}):\n{log[-1500:]}")
            continue
        print(f"{stage}: rank 1 killed {killed - t0:.1f} s into the run; the job ended {ended - killed:.1f} s later "
              f"with exit {run.returncode}")
        if run.returncode == 0:
            failures.append(f"{stage}: the job succeeded although rank 1 was killed:\n{log[-1500:]}")
        if os.path.exists(os.path.join(OUT, output)):
            failures.append(f"{stage}: {output} exists after the stage was killed")
        for later in OUTPUTS[OUTPUTS.index(output) + 1 if output in OUTPUTS else 0:]:
            if os.path.exists(os.path.join(OUT, later)):
                failures.append(f"{stage}: the later output {later} exists")
    final = subprocess.run(["mpirun", "-n", "2", BSMHUNT, "run", JOB, "--output-dir", OUT], env=ENV,
                           capture_output=True, text=True, timeout=900)
    if final.returncode != 0:
        failures.append(f"the run after the kills failed:\n{final.stdout[-2000:]}{final.stderr[-2000:]}")
    else:
        for f in OUTPUTS:
            code, text = h5compare(os.path.join(STRAIGHT, f), os.path.join(OUT, f))
            if code != 0:
                failures.append(f"{f} differs from the uninterrupted run's:\n{text[-1500:]}")
        if without_timing(os.path.join(STRAIGHT, "mlp_significance.json")) != without_timing(
                os.path.join(OUT, "mlp_significance.json")):
            failures.append("mlp_significance.json differs from the uninterrupted run's")
    if failures:
        print("FAILED:\n" + "\n\n".join(failures))
        sys.exit(1)
    print(f"kill -9 of rank 1 in {len(STAGES)} stages: every job ended, nothing was accepted, and the final run "
          "matches the uninterrupted one")


if __name__ == "__main__":
    main()
