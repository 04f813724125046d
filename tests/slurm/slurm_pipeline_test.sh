#!/usr/bin/env bash
# End-to-end test on a real (private, single-node) Slurm. Starts one with
# tools/slurm-local in a temporary directory, then:
#   1. submits a batch job that runs bsmhunt with 2 ranks through
#      `srun --mpi=pmix -n 2` on tests/slurm/ci_pipeline.ini, waits for it
#      (bounded) and checks its exit code and its outputs with h5py;
#   2. preemption: starts a long training with the repository's batch script
#      (stages mode: slurm/train_gpu.sbatch on CPUs; run mode: slurm/pipeline.sbatch),
#      sends it SIGUSR1 as Slurm does before the time limit, and checks that the job
#      checkpointed (exit 75), requeued itself and resumed from the checkpoint;
#   3. (run mode) tools/submit: the chain of three dependent jobs, all COMPLETED.
# Always stops Slurm and removes the temporary directory. Fails (never skips) when
# the Slurm packages are missing; every wait is bounded.
#
# Usage: tests/slurm/slurm_pipeline_test.sh BSMHUNT_BINARY SOURCE_DIR
# (ctest runs it as slurm.pipeline). Environment:
#   BSMHUNT_SLURM_TEST_MODE      stages: generate + extract as two srun steps (part 1)
#                                run:    `bsmhunt run ci_pipeline.ini` as one srun step
#   BSMHUNT_SLURM_TEST_TIMEOUT   seconds to wait for each job (default 300)
#   BSMHUNT_SLURM_TEST_BUDGET    seconds for the whole test (default 780; ctest's
#                                TIMEOUT is 900, and a killed test leaves daemons)
#   BSMHUNT_SLURM_TEST_KEEP=1    keep the temporary directory (logs, outputs)
set -euo pipefail

# >>> The switch: `stages` until `bsmhunt run` is in every build, then `run`. <<<
MODE=${BSMHUNT_SLURM_TEST_MODE:-run}

if [[ $# -ne 2 ]]; then
  echo "usage: $0 BSMHUNT_BINARY SOURCE_DIR" >&2
  exit 2
fi
BSMHUNT=$(realpath "$1")
SRC=$(realpath "$2")
JOB_TIMEOUT=${BSMHUNT_SLURM_TEST_TIMEOUT:-300}
BUDGET_END=$((SECONDS + ${BSMHUNT_SLURM_TEST_BUDGET:-780}))
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3

fail() {
  echo "slurm.pipeline: FAILED: $*" >&2
  exit 1
}
case $MODE in
  stages | run) ;;
  *) fail "BSMHUNT_SLURM_TEST_MODE=$MODE: expected stages or run" ;;
esac
[[ -x $BSMHUNT ]] || fail "no bsmhunt executable at $1"

# CI installs Slurm (tools/setup): a missing package is a failure, not a skip.
PATH=$PATH:/usr/sbin:/sbin
missing=()
for c in munged slurmctld slurmd sbatch srun sinfo scontrol scancel; do
  command -v "$c" >/dev/null 2>&1 || missing+=("$c")
done
compgen -G "/usr/lib/*/pmix2/lib/libpmix.so" >/dev/null || missing+=("libpmix.so (libpmix-dev, for srun --mpi=pmix)")
if [[ ${#missing[@]} -gt 0 ]]; then
  fail "Slurm is not installed (missing: ${missing[*]}); run tools/setup (it installs slurmctld slurmd slurm-client munge libpmix-dev)"
fi
$PY -c 'import h5py' 2>/dev/null || fail "$PY cannot import h5py; run tools/setup (python3-h5py)"

WORK=$(mktemp -d /tmp/bsmhunt-slurm-test.XXXXXX)
SLURM_DIR=$WORK/slurm
OUT=$WORK/out
mkdir -p "$OUT"

slurm_log_tails() {
  local f
  for f in "$SLURM_DIR"/log/slurmctld.log "$SLURM_DIR"/log/slurmd.log; do
    [[ -s $f ]] || continue
    echo "---- last lines of $f" >&2
    tail -n 30 "$f" >&2
  done
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ $rc -ne 0 ]]; then slurm_log_tails; fi
  bash "$SRC/tools/slurm-local" stop "$SLURM_DIR" >/dev/null 2>&1 || echo "slurm.pipeline: tools/slurm-local stop failed" >&2
  if [[ ${BSMHUNT_SLURM_TEST_KEEP:-0} == 1 ]]; then
    echo "slurm.pipeline: kept $WORK" >&2
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

t0=$SECONDS
echo "== starting a private Slurm in $SLURM_DIR"
SLURM_LOCAL_TIMEOUT=60 bash "$SRC/tools/slurm-local" start "$SLURM_DIR" || fail "tools/slurm-local start failed (log tails above)"
export SLURM_CONF=$SLURM_DIR/slurm.conf
export BSMHUNT
echo "   up after $((SECONDS - t0))s"

# ---- helpers -------------------------------------------------------------------
deadline_for_job() {  # now + JOB_TIMEOUT, but not past the test's budget
  local d=$((SECONDS + JOB_TIMEOUT))
  ((d < BUDGET_END)) || d=$BUDGET_END
  echo "$d"
}

field() {  # field NAME JOBID: one field of `scontrol show job`
  timeout 15 scontrol -o show job "$2" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n 1
}

job_output() {  # the job's output file (StdOut)
  field StdOut "$1"
}

show_job_failure() {  # show_job_failure JOBID: scontrol and the job output
  local out
  timeout 15 scontrol show job "$1" >&2 || true
  out=$(job_output "$1")
  if [[ -n $out && -f $out ]]; then
    echo "---- last lines of the job output $out" >&2
    tail -n 60 "$out" >&2
  fi
}

submit() {  # submit SBATCH_ARGS...: prints the job id
  local id
  id=$(timeout 30 sbatch --parsable "$@") || fail "sbatch $* failed"
  id=${id%%;*}
  [[ $id =~ ^[0-9]+$ ]] || fail "sbatch returned '$id', not a job id"
  echo "$id"
}

# wait_final JOBID: waits (bounded) for a final state; sets STATE and EXITCODE.
# Finished jobs stay visible to scontrol for MinJobAge = 600 s (tools/slurm-local).
wait_final() {
  local deadline
  deadline=$(deadline_for_job)
  while :; do
    STATE=$(field JobState "$1")
    EXITCODE=$(field ExitCode "$1")
    case $STATE in
      PENDING | CONFIGURING | RUNNING | COMPLETING | SUSPENDED | REQUEUED | REQUEUE_HOLD | RESIZING | "") ;;
      *) return 0 ;;
    esac
    if ((SECONDS >= deadline)); then
      show_job_failure "$1"
      timeout 10 scancel "$1" || true
      fail "job $1 not finished in time (state ${STATE:-unknown}; BSMHUNT_SLURM_TEST_TIMEOUT=${JOB_TIMEOUT}s per job)"
    fi
    sleep 1
  done
}

expect_completed() {  # expect_completed JOBID WHAT
  wait_final "$1"
  if [[ $STATE != COMPLETED || $EXITCODE != 0:0 ]]; then
    show_job_failure "$1"
    fail "$2: job $1 ended $STATE with exit code $EXITCODE"
  fi
  echo "   job $1 ($2): COMPLETED, exit code 0:0, $((SECONDS - t0))s since start"
}

# wait_output JOBID REGEX WHAT: waits (bounded) until the job's output matches.
wait_output() {
  local deadline out state
  deadline=$(deadline_for_job)
  while :; do
    out=$(job_output "$1")
    [[ -n $out && -f $out ]] && grep -Eq "$2" "$out" && return 0
    state=$(field JobState "$1")
    case $state in
      PENDING | CONFIGURING | RUNNING | COMPLETING | REQUEUED | REQUEUE_HOLD | "") ;;
      *) show_job_failure "$1"; fail "$3: job $1 ended $state before its output showed /$2/" ;;
    esac
    if ((SECONDS >= deadline)); then
      show_job_failure "$1"
      fail "$3: job $1 output did not show /$2/ in time (BSMHUNT_SLURM_TEST_TIMEOUT=${JOB_TIMEOUT}s per job)"
    fi
    sleep 0.5
  done
}

# ---- 1. the pipeline job ---------------------------------------------------------
# Every step is `srun --mpi=pmix -n 2`; Open MPI as root needs the two variables
# under srun as well.
cp "$SRC/tests/slurm/ci_pipeline.ini" "$OUT/ci_pipeline.ini"
# shellcheck disable=SC2016  # $BSMHUNT expands in the job
if [[ $MODE == run ]]; then
  steps='srun --mpi=pmix -n 2 "$BSMHUNT" run ci_pipeline.ini --output-dir job'
else
  steps='srun --mpi=pmix -n 2 "$BSMHUNT" generate --config ci_pipeline.ini --output job/events.h5
srun --mpi=pmix -n 2 "$BSMHUNT" extract --config ci_pipeline.ini --input job/events.h5 --output job/features.h5'
fi
cat >"$WORK/job.sbatch" <<EOF
#!/bin/bash
#SBATCH --job-name=bsmhunt-ci
#SBATCH --nodes=1
#SBATCH --ntasks=2
#SBATCH --time=15
set -euxo pipefail
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
echo "job \$SLURM_JOB_ID on \$SLURM_JOB_NODELIST with \$SLURM_NTASKS tasks in \$PWD"
mkdir -p job
$steps
EOF

echo "== 1. pipeline job ($MODE mode): $(grep -c '^srun' "$WORK/job.sbatch") srun step(s) with 2 ranks"
jobid=$(submit --chdir="$OUT" --output="$OUT/slurm-%j.out" "$WORK/job.sbatch")
expect_completed "$jobid" "pipeline job"
joblog=$OUT/slurm-$jobid.out
[[ -f $joblog ]] || fail "no job output $joblog"
grep -q " on 2 ranks\|with 2 rank\|, 2 ranks" "$joblog" ||
  { tail -n 40 "$joblog" >&2; fail "the job output does not show bsmhunt running on 2 ranks (srun --mpi=pmix did not make one MPI job?)"; }

# The outputs: every HDF5 file with a `complete` attribute (all of bsmhunt's) has
# complete = 1, no .partial is left, a feature file with rows exists, and a
# manifest of `bsmhunt run` lists every stage as complete.
check_outputs() {
  echo "   checking the outputs in $1"
  $PY - "$1" <<'EOF' || fail "output check failed in $1"
import glob, json, os, sys
import h5py
out = sys.argv[1]
partial = glob.glob(os.path.join(out, "**", "*.partial"), recursive=True)
assert not partial, f"unfinished outputs left behind: {partial}"
files = sorted(glob.glob(os.path.join(out, "**", "*.h5"), recursive=True))
assert files, f"no HDF5 output in {out}"
features = []
for path in files:
    with h5py.File(path, "r") as f:
        fmt = f.attrs.get("format")
        fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
        if fmt in ("bsmhunt.events", "bsmhunt.features") or "complete" in f.attrs:
            assert int(f.attrs.get("complete", 0)) == 1, f"{path}: complete != 1"
        if fmt == "bsmhunt.features":
            n, nf = f["features"].shape
            assert n > 0 and nf > 0, f"{path}: empty feature matrix {f['features'].shape}"
            assert f["weight"].shape == (n,) and f["label"].shape == (n,), f"{path}: column lengths differ"
            assert int(f["label"][:].sum()) > 0, f"{path}: no signal events"
            features.append((path, n, nf))
        if fmt == "bsmhunt.events":
            assert len(f["samples"]) > 0, f"{path}: no samples"
        print(f"   {os.path.relpath(path, out)}: {fmt or 'HDF5'} ok")
assert features, f"no feature file among {files}"
for path in glob.glob(os.path.join(out, "**", "manifest.json"), recursive=True):
    with open(path) as m:
        stages = json.load(m)["stages"]
    incomplete = [s["stage"] for s in stages if not s.get("complete")]
    assert stages and not incomplete, f"{path}: incomplete stages {incomplete}"
    print(f"   {os.path.relpath(path, out)}: {len(stages)} stages complete ({', '.join(s['stage'] for s in stages)})")
for path, n, nf in features:
    print(f"   {os.path.relpath(path, out)}: {n} rows x {nf} features, complete = 1")
EOF
}
check_outputs "$OUT/job"

# ---- 2. preemption: SIGUSR1 -> checkpoint, exit 75 -> requeue -> --resume ----------
# A training far too long to finish; once it runs, SIGUSR1 to its steps (what
# --signal=USR1@120 does before the time limit). The job must requeue itself and
# its next start must resume from the checkpoint; then the test cancels it.
if [[ $MODE == run ]]; then
  sed -e 's/^epochs = .*/epochs = 1000000\nprogress-seconds = 1/' "$OUT/ci_pipeline.ini" >"$OUT/preempt.ini"
  grep -q '^epochs = 1000000' "$OUT/preempt.ini" || fail "could not derive preempt.ini"
  what="slurm/pipeline.sbatch"
  # Same output directory: generate and extract are complete and must be skipped.
  pid=$(submit --chdir="$OUT" --nodes=1 --ntasks-per-node=2 --time=15 --output="$OUT/preempt-%j.out" \
    "$SRC/slurm/pipeline.sbatch" preempt.ini --until train --output-dir job)
else
  what="slurm/train_gpu.sbatch (on CPUs)"
  pid=$(BSMHUNT_DEVICE=cpu submit --chdir="$OUT" --nodes=1 --gpus-per-node=0 --ntasks-per-node=2 --cpus-per-task=1 \
    --time=15 --output="$OUT/preempt-%j.out" "$SRC/slurm/train_gpu.sbatch" ci_pipeline.ini job/features.h5 \
    job/preempt_model.h5 --epochs 1000000 --progress-seconds 1)
fi
echo "== 2. preemption of $what: job $pid"
wait_output "$pid" '^epoch [0-9]+' "preemption (training running)"
timeout 15 scancel --signal=USR1 "$pid" || fail "scancel --signal=USR1 $pid failed"
echo "   SIGUSR1 sent after $((SECONDS - t0))s; waiting for the requeue (tools/slurm-local: ~16 s) and the resume"
wait_output "$pid" 'resumed from .*checkpoint' "preemption (resume after requeue)"
restarts=$(field Restarts "$pid")
plog=$(job_output "$pid")
grep -q "exit code 75" "$plog" || { show_job_failure "$pid"; fail "preemption: no exit code 75 in $plog"; }
grep -q "requeueing job $pid" "$plog" || { show_job_failure "$pid"; fail "preemption: the script did not requeue"; }
[[ ${restarts:-0} -ge 1 ]] || { show_job_failure "$pid"; fail "preemption: job $pid has Restarts=${restarts:-?}"; }
if [[ $MODE == run ]]; then
  grep -q "stage extract: complete .* skipped" "$plog" || { show_job_failure "$pid"; fail "preemption: bsmhunt run did not skip the complete stages"; }
fi
echo "   job $pid: checkpoint + exit 75 + requeue (Restarts=$restarts) + resume: ok, $((SECONDS - t0))s since start"
timeout 15 scancel "$pid" || true
wait_final "$pid"

# ---- 3. tools/submit: the chain cpu -> train -> post with afterok dependencies -----
if [[ $MODE == run ]]; then
  echo "== 3. tools/submit chain"
  chain=$(cd "$OUT" && timeout 60 bash "$SRC/tools/submit" ci_pipeline.ini --gpus-per-node 0 --ntasks-per-node 2 \
    --time 15 --output-dir chain) || fail "tools/submit failed"
  while read -r line; do echo "   $line"; done <<<"$chain"
  mapfile -t ids < <(sed -n 's/^tools\/submit: job \([0-9]*\) .*/\1/p' <<<"$chain")
  [[ ${#ids[@]} -eq 3 ]] || fail "tools/submit: expected 3 jobs (cpu, gpu, post), got ${#ids[@]}"
  for id in "${ids[@]}"; do expect_completed "$id" "chain link"; done
  check_outputs "$OUT/chain"
fi

echo "slurm.pipeline: PASSED ($MODE mode, $((SECONDS - t0))s)"
