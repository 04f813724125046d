"""What the interruption tests of a `bsmhunt run` job share (kill_rank_test.py,
stop_signal_test.py): the job, the stages interrupted and how each is seen writing, the
processes of the job's ranks, and the comparison of the outputs with an uninterrupted
run's."""
import os
import subprocess
import time

SOURCE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")

JOB_TEXT = """[job]
description = interrupted job (kill_rank_test.py, stop_signal_test.py)
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


def write_job(path):
    with open(path, "w") as f:
        f.write(JOB_TEXT)


def start_run(bsmhunt, job, out):
    """`bsmhunt run JOB` on 2 ranks, its output collected."""
    return subprocess.Popen(["mpirun", "-n", "2", bsmhunt, "run", job, "--output-dir", out,
                             "--collective-timeout", "60"], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def wait_until_writing(run, out, marker, timeout=600):
    """Polls until `marker` exists in `out` while the job runs; True if it was seen."""
    t0 = time.monotonic()
    while run.poll() is None and time.monotonic() - t0 < timeout:
        if os.path.exists(os.path.join(out, marker)):
            return True
        time.sleep(0.005)
    return False


def compare_with_uninterrupted(straight, out):
    """The differences of every output from the uninterrupted run's (empty: identical)."""
    failures = []
    for f in OUTPUTS:
        code, text = h5compare(os.path.join(straight, f), os.path.join(out, f))
        if code != 0:
            failures.append(f"{f} differs from the uninterrupted run's:\n{text[-1500:]}")
    if without_timing(os.path.join(straight, "mlp_significance.json")) != without_timing(
            os.path.join(out, "mlp_significance.json")):
        failures.append("mlp_significance.json differs from the uninterrupted run's")
    return failures


def rank_pid(out, rank):
    """The bsmhunt process of `rank` in the job writing to `out` (from its environment)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
            if not cmd or os.path.basename(cmd[0].decode()) != "bsmhunt" or out.encode() not in b" ".join(cmd):
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


