#!/usr/bin/env python3
"""Kill -9 of one rank (rank 1 of 2, not rank 0) in the middle of generate, extract, train,
predict, limits and fit of a `bsmhunt run` job (issue #19): each time the job ends by itself (no hang),
the interrupted stage leaves no output a later stage accepts, and the next `bsmhunt run`
continues; after the last one the outputs are identical to an uninterrupted run's.
The kill comes when the stage is observed writing (its spool file, or the training
checkpoint, exists; for limits and fit, which write once at the end, when `bsmhunt run`
has marked them started), not after a fixed sleep.

Usage: kill_rank_test.py BSMHUNT WORKDIR"""
import os
import signal
import sys
import time

from interrupted_job import log_once_ended, uninterrupted_run, FINAL, SHORT_STAGES, STAGES, finish, rank_pid, start_run, wait_until_writing



def main():
    bsmhunt, job, out, straight = uninterrupted_run(sys.argv)
    failures = []
    for stage, marker, output in STAGES + SHORT_STAGES:
        run = start_run(bsmhunt, job, out)
        t0 = time.monotonic()
        killed = None
        while killed is None and wait_until_writing(run, out, marker, timeout=600 - (time.monotonic() - t0)):
            pid = rank_pid(out, 1)
            if pid:
                os.kill(pid, signal.SIGKILL)
                killed = time.monotonic()
        log = log_once_ended(run, failures, stage, "the kill")
        ended = time.monotonic()
        if killed is None:
            failures.append(f"{stage}: never saw {marker} with rank 1 alive (exit {run.returncode}):\n{log[-1500:]}")
            continue
        print(f"{stage}: rank 1 killed {killed - t0:.1f} s into the run; the job ended {ended - killed:.1f} s later "
              f"with exit {run.returncode}")
        if run.returncode == 0:
            failures.append(f"{stage}: the job succeeded although rank 1 was killed:\n{log[-1500:]}")
        if os.path.exists(os.path.join(out, output)):
            failures.append(f"{stage}: {output} exists after the stage was killed")
        for later in FINAL[FINAL.index(output) + 1:]:
            if os.path.exists(os.path.join(out, later)):
                failures.append(f"{stage}: the later output {later} exists")
    finish(bsmhunt, job, out, straight, failures,
           f"kill -9 of rank 1 in {len(STAGES + SHORT_STAGES)} stages: every job ended, nothing was accepted, and "
           "the final run matches the uninterrupted one")


if __name__ == "__main__":
    main()
