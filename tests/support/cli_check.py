"""Shared pieces of the Python end-to-end tests that drive the bsmhunt executable:
running it (under mpirun), the weighted AUC they compare with, the bad-input loop
and the verdict. Import with sys.path pointing at tests/support."""
import os
import subprocess
import sys

import numpy as np


def run(cmd, expect=0):
    """Runs cmd; exits the test with its output when the exit code is not `expect`
    (None: any). Returns stdout + stderr."""
    r = subprocess.run(cmd, capture_output=True, text=True)
    if expect is not None and r.returncode != expect:
        sys.exit(f"FAIL: {' '.join(cmd)} exited {r.returncode} (expected {expect})\n{r.stdout}\n{r.stderr}")
    return r.stdout + r.stderr


def mpirun(n):
    return ["mpirun", "--allow-run-as-root", "--oversubscribe", "-n", str(n)]


def weighted_auc(score, weight, is_signal):
    """ROC AUC with event weights (ties count half), independent of bsmhunt's."""
    s, ws = score[is_signal], weight[is_signal]
    b, wb = score[~is_signal], weight[~is_signal]
    order = np.argsort(b)
    b, wb = b[order], wb[order]
    cum = np.concatenate([[0.0], np.cumsum(wb)])
    lo, hi = np.searchsorted(b, s, "left"), np.searchsorted(b, s, "right")
    return float(np.sum(ws * (cum[lo] + 0.5 * (cum[hi] - cum[lo]))) / (ws.sum() * wb.sum()))


def check_bad_inputs(bsmhunt, cases, leftover, failures):
    """Each (arguments, message): exit 2, the message in the output, no `leftover` file."""
    for args, message in cases:
        out = run([bsmhunt] + args, expect=2)
        if message not in out:
            failures.append(f"{' '.join(args)}: message lacks {message!r}:\n{out}")
        if os.path.exists(leftover):
            failures.append(f"{' '.join(args)}: left {leftover}")
            os.remove(leftover)


def verdict(failures, passed):
    """Prints the failures (exit code 1) or `passed` (0)."""
    if failures:
        print("\n".join(["FAIL:"] + failures))
        return 1
    print(passed)
    return 0
