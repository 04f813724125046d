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
import signal
import sys
import time

from interrupted_job import log_once_ended, uninterrupted_run, STAGES, finish, rank_pid, start_run, wait_until_writing



def main():
    bsmhunt, job, out, straight = uninterrupted_run(sys.argv)
    failures = []
    for stage, marker, output in STAGES:
        run = start_run(bsmhunt, job, out)
        t0, signalled = time.monotonic(), None
        while signalled is None and wait_until_writing(run, out, marker, timeout=600 - (time.monotonic() - t0)):
            pids = [rank_pid(out, 0), rank_pid(out, 1)]
            if all(pids):
                for pid in pids:  # Slurm signals every task
                    os.kill(pid, signal.SIGTERM)
                signalled = time.monotonic()
        log = log_once_ended(run, failures, stage, "SIGTERM")
        if signalled is None:
            failures.append(f"{stage}: never saw {marker} with both ranks alive (exit {run.returncode}):\n{log[-1500:]}")
            continue
        took = time.monotonic() - signalled
        print(f"{stage}: SIGTERM {signalled - t0:.1f} s into the run; exit {run.returncode} {took:.1f} s later")
        if run.returncode != 75:
            failures.append(f"{stage}: exit {run.returncode}, expected 75:\n{log[-2000:]}")
        if took > 20:
            failures.append(f"{stage}: took {took:.0f} s to stop, expected seconds")
        # The stage stops itself, or, when the signal came while it was committing its
        # output (after its last stop point), it finishes and the job stops before the
        # next stage.
        expected = "checkpoint written" if stage == "train" else f"{stage}: stopped by signal 15 (SIGTERM)"
        finished_first = "run: stopped by signal 15 before stage" in log
        if expected not in log and not finished_first:
            failures.append(f"{stage}: the log says neither '{expected}' nor that the job stopped before the next "
                            f"stage:\n{log[-2000:]}")
        if os.path.exists(os.path.join(out, output)) and not finished_first:
            failures.append(f"{stage}: {output} exists after the stop")
        leftovers = [p for p in glob.glob(os.path.join(out, output + "*")) if not p.endswith(".checkpoint.h5")]
        if leftovers:
            failures.append(f"{stage}: left behind {leftovers}")
    finish(bsmhunt, job, out, straight, failures,
           f"SIGTERM in {len(STAGES)} stages: each stopped with exit 75, left nothing a later stage accepts, and the "
           "final run matches the uninterrupted one")


if __name__ == "__main__":
    main()
