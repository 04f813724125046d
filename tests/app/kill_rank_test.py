#!/usr/bin/env python3
"""Kill -9 of one rank in the middle of every stage of a `bsmhunt run` job (issue #19):
generate, extract, train, predict, significance, limits, fit, bumphunt and the report
(rank 0, the one running the plotting script); for the stages that
write large files at two points and on either rank: rank 1 while the stage writes its
spool (or training checkpoint), then rank 0 while it writes the final file (its
`.partial` exists; for training, when the resumed run writes its next checkpoint). Each time the job
ends by itself (no hang) and leaves no process behind (a tool a killed rank started
dies with it), the interrupted stage leaves no output a later stage accepts, and the next `bsmhunt run` continues; after the last one the outputs are identical to an
uninterrupted run's. The kill comes when the point is observed, not after a fixed sleep.

Usage: kill_rank_test.py BSMHUNT WORKDIR"""
import glob
import os
import signal
import sys
import time

from interrupted_job import (log_once_ended, uninterrupted_run, FINAL, finish, JOB_TEXT_WITH_HUNT_AND_REPORT,
                             JSON_RESULTS, processes_of, rank_pid, start_run)

M = os.path.join("manifest", "{}.started")
# (stage, the file whose existence marks the point, the stage's final output, rank killed),
# in the job's order: each run after a kill redoes the interrupted stage and goes on to
# the next point.
KILLS = [
    ("generate", "events.h5.spool.1", "events.h5", 1),
    ("generate", "events.h5.partial", "events.h5", 0),
    ("extract", "features.h5.spool.1", "features.h5", 1),
    ("extract", "features.h5.partial", "features.h5", 0),
    ("train", "mlp_model.h5.checkpoint.h5", "mlp_model.h5", 1),
    ("train", "mlp_model.h5.checkpoint.h5", "mlp_model.h5", 0),  # resumed, at its next checkpoint
    ("predict", "mlp_scores.h5.spool.1", "mlp_scores.h5", 1),
    ("predict", "mlp_scores.h5.partial", "mlp_scores.h5", 0),
    ("significance", M.format("significance"), "mlp_significance.h5", 1),
    ("limits", M.format("limits"), "mlp_limits.json", 1),
    ("fit", M.format("fit"), "fit.json", 0),
    ("bumphunt", M.format("bumphunt"), "bumphunt.json", 1),
    # Rank 0 once the plotting script it started has written a plot: the script must
    # die with it, not finish the report after the job ended.
    ("report", os.path.join("report", "*.png"), os.path.join("report", "index.html"), 0),
]
OUTPUTS_IN_ORDER = FINAL + ["bumphunt.json", os.path.join("report", "index.html")]


def wait_until_written(run, out, marker, since, timeout):
    """Polls until a file matching `marker` in `out` was written at or after `since` (wall
    clock) while the job runs: a file left by an earlier, killed run does not count. True
    if seen."""
    t0 = time.monotonic()
    pattern = os.path.join(out, marker)
    while run.poll() is None and time.monotonic() - t0 < timeout:
        for path in glob.glob(pattern):
            try:
                if os.stat(path).st_mtime >= since:
                    return True
            except FileNotFoundError:
                pass
        time.sleep(0.005)
    return False


def main():
    bsmhunt, job, out, straight = uninterrupted_run(sys.argv, JOB_TEXT_WITH_HUNT_AND_REPORT)
    failures = []
    for stage, marker, output, rank in KILLS:
        point = f"{stage} (rank {rank} at {os.path.basename(marker)})"
        since = time.time()
        run = start_run(bsmhunt, job, out)
        t0 = time.monotonic()
        killed = None
        while killed is None and wait_until_written(run, out, marker, since, timeout=600 - (time.monotonic() - t0)):
            pid = rank_pid(out, rank)
            if pid:
                os.kill(pid, signal.SIGKILL)
                killed = time.monotonic()
        log = log_once_ended(run, failures, point, "the kill")
        ended = time.monotonic()
        if killed is None:
            failures.append(f"{point}: never saw {marker} with rank {rank} alive (exit {run.returncode}):\n"
                            f"{log[-1500:]}")
            continue
        print(f"{point}: killed {killed - t0:.1f} s into the run; the job ended {ended - killed:.1f} s later "
              f"with exit {run.returncode}")
        survivors, deadline = processes_of(out), time.monotonic() + 3  # a killed process may take a moment to go
        while survivors and time.monotonic() < deadline:
            time.sleep(0.1)
            survivors = processes_of(out)
        if survivors:
            named = [(pid, b" ".join(cmd).decode(errors="replace").strip()) for pid, cmd in survivors]
            failures.append(f"{point}: processes of the job outlived it: {named}")
            for pid, _ in survivors:
                os.kill(pid, signal.SIGKILL)
        if run.returncode == 0:
            failures.append(f"{point}: the job succeeded although rank {rank} was killed:\n{log[-1500:]}")
        if os.path.exists(os.path.join(out, output)):
            failures.append(f"{point}: {output} exists after the stage was killed")
        for later in OUTPUTS_IN_ORDER[OUTPUTS_IN_ORDER.index(output) + 1:]:
            if os.path.exists(os.path.join(out, later)):
                failures.append(f"{point}: the later output {later} exists")
    finish(bsmhunt, job, out, straight, failures,
           f"kill -9 at {len(KILLS)} points of {len({k[0] for k in KILLS})} stages: every job ended and left no "
           "process behind, nothing was accepted, and the final run matches the uninterrupted one",
           JSON_RESULTS + ["bumphunt.json"])


if __name__ == "__main__":
    main()
