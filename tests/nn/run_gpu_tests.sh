#!/usr/bin/env bash
# ctest entry nn.cuda: the GPU tests of nn_tests (every test named *Cuda*). Exit 77,
# which ctest reports as skipped, when every one of them skipped (no NVIDIA GPU on
# this host: tests/nn/CudaOrSkip.hpp); their failures fail it as usual.
set -uo pipefail
output=$("$@" 2>&1)
status=$?
printf '%s\n' "$output"
if [[ $status -ne 0 ]]; then exit $status; fi
if grep -q '^\[  PASSED  \] 0 tests' <<<"$output" && grep -q '^\[  SKIPPED \]' <<<"$output"; then
  echo "nn.cuda: skipped: $(grep -m1 'no NVIDIA GPU on this host' <<<"$output")"
  exit 77
fi
exit 0
