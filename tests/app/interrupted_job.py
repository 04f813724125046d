"""What the interruption tests of a `bsmhunt run` job share (kill_rank_test.py,
stop_signal_test.py): the job, the stages interrupted and how each is seen writing, the
processes of the job's ranks, and the comparison of the outputs with an uninterrupted
run's."""
import os
import shutil
import subprocess
import sys
import time

SOURCE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")

JOB_TEXT = """[job]
description = interrupted job (kill_rank_test.py, stop_signal_test.py)
stages = generate, extract, train, predict, significance, limits, fit

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

# CLs from pseudo-experiments spread over the ranks (asymptotic limits take 0.1 s here,
# too short to kill a rank inside them).
[limits]
cls = toys
toys = 300
lumi-uncertainty = 0.017
background-norm = dy_*=0.05, ttbar_dilep=0.06, ww_lvlv=0.06, zz_*=0.1

# The Z peak of the simulated m_ll with a peak fit and pseudo-experiments spread over
# the ranks: a stage that lasts long enough for rank 1 to be killed inside it.
[fit]
input = {extract}
mass-bins = 66:116:50
samples = background
peak = gauss
background = exp
toys = 400
"""

# kill_rank_test.py's job goes on to the bump hunt (its trainings dealt over the ranks)
# and the report (rank 0 runs the plotting script while rank 1 waits).
JOB_TEXT_WITH_HUNT_AND_REPORT = JOB_TEXT.replace(
    "stages = generate, extract, train, predict, significance, limits, fit",
    "stages = generate, extract, train, predict, significance, limits, fit, bumphunt, report") + """
[bumphunt]
mass-bins = 60:120:12
background = linear
folds = 3
ensemble = 2
epochs = 4
hidden = 16
efficiencies = 1,0.2

[report]
"""

# stage -> (file that shows it is writing, the stage's final output)
STAGES = [
    ("generate", "events.h5.spool.1", "events.h5"),
    ("extract", "features.h5.spool.1", "features.h5"),
    ("train", "mlp_model.h5.checkpoint.h5", "mlp_model.h5"),
    ("predict", "mlp_scores.h5.spool.1", "mlp_scores.h5"),
]
# The short stages write their results once, at the end: `bsmhunt run` marks them
# started (manifest/STAGE.started) before they begin.
SHORT_STAGES = [
    ("limits", os.path.join("manifest", "limits.started"), "mlp_limits.json"),
    ("fit", os.path.join("manifest", "fit.started"), "fit.json"),
]
OUTPUTS = ["events.h5", "features.h5", "mlp_model.h5", "mlp_scores.h5", "mlp_significance.h5"]
# Every stage's final output in the job's order, and the JSON results compared as text.
FINAL = OUTPUTS + ["mlp_limits.json", "fit.json"]
JSON_RESULTS = ["mlp_significance.json", "mlp_limits.json", "fit.json"]


def write_job(path, text=JOB_TEXT):
    with open(path, "w") as f:
        f.write(text)


def uninterrupted_run(argv, job_text=JOB_TEXT):
    """From the test's arguments BSMHUNT WORKDIR: a fresh WORKDIR with the job file and
    the uninterrupted run's outputs in WORKDIR/straight. Returns (bsmhunt, job, out,
    straight), `out` being where the interrupted runs write."""
    bsmhunt, work = os.path.abspath(argv[1]), os.path.abspath(argv[2])
    out, straight, job = os.path.join(work, "out"), os.path.join(work, "straight"), os.path.join(work, "job.ini")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    write_job(job, job_text)
    run = start_run(bsmhunt, job, out)
    log, _ = run.communicate(timeout=900)
    if run.returncode != 0:
        sys.exit(f"the uninterrupted run failed:\n{log}")
    os.rename(out, straight)
    return bsmhunt, job, out, straight


def log_once_ended(run, failures, stage, fault):
    """The run's log once it has ended; if it has not 120 s after the fault, a failure
    is recorded and the run killed."""
    try:
        return run.communicate(timeout=120)[0]
    except subprocess.TimeoutExpired:
        run.kill()
        failures.append(f"{stage}: the job did not end within 120 s of {fault}")
        return run.communicate()[0]


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


def compare_with_uninterrupted(straight, out, json_results=JSON_RESULTS):
    """The differences of every output from the uninterrupted run's (empty: identical)."""
    failures = []
    for f in OUTPUTS:
        code, text = h5compare(os.path.join(straight, f), os.path.join(out, f))
        if code != 0:
            failures.append(f"{f} differs from the uninterrupted run's:\n{text[-1500:]}")
    for name in json_results:
        if without_timing(os.path.join(straight, name)) != without_timing(os.path.join(out, name)):
            failures.append(f"{name} differs from the uninterrupted run's")
    return failures


def finish(bsmhunt, job, out, straight, failures, passed, json_results=JSON_RESULTS):
    """The last `bsmhunt run` after the interruptions: it must complete, and its outputs
    equal the uninterrupted run's. Prints the failures (exit 1) or `passed`."""
    final = start_run(bsmhunt, job, out)
    log, _ = final.communicate(timeout=900)
    if final.returncode != 0:
        failures.append(f"the run after the interruptions failed:\n{log[-4000:]}")
    else:
        failures += compare_with_uninterrupted(straight, out, json_results)
    if failures:
        print("FAILED:\n" + "\n\n".join(failures))
        sys.exit(1)
    print(passed)


def proc_strings(pid, name):
    """/proc/PID/NAME (cmdline, environ) as its NUL-separated byte strings; None once
    the process is gone."""
    try:
        with open(f"/proc/{pid}/{name}", "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return None


def processes_of(out):
    """Every live process whose command line names `out` (the ranks and any tool they
    started), as (pid, command line as a list of bytes)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        cmd = proc_strings(pid, "cmdline")
        if cmd and out.encode() in b" ".join(cmd):  # a zombie's command line is empty
            found.append((int(pid), cmd))
    return found


def rank_pid(out, rank):
    """The bsmhunt process of `rank` in the job writing to `out` (from its environment)."""
    for pid, cmd in processes_of(out):
        env = proc_strings(pid, "environ")
        if env and os.path.basename(cmd[0].decode(errors="replace")) == "bsmhunt" and \
                f"OMPI_COMM_WORLD_RANK={rank}".encode() in env:
            return pid
    return None


def h5compare(a, b):
    p = subprocess.run(["/usr/bin/python3", os.path.join(SOURCE, "tools", "h5compare"), a, b, "--ignore-dataset",
                        "/history/seconds"], capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def without_timing(path):
    with open(path) as f:
        return [line for line in f if '"fill_seconds"' not in line and '"seconds"' not in line]


