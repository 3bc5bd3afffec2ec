#!/usr/bin/env bash
# The full recovery grid of the promote issue (Otto et al.'s study), one `symlie bench recovery` run per row chunk so
# that every finished chunk is merged into benchmarks/recovery_TARGET_GROUP.{csv,json,png} at once.
# Each chunk's wall-clock time (Dask start-up, operator building and plotting included) is appended to
# benchmarks/recovery_full_grid.log as: start (UTC), seconds, arguments.
#   usage: bash benchmarks/recovery_full_grid.sh [FIRST_CHUNK]   (1-based; to resume an interrupted run)
set -euo pipefail
cd "$(dirname "$0")/.."
SYMLIE=${SYMLIE:-.venv/bin/symlie}
LOG=benchmarks/recovery_full_grid.log
chunks=(
  "--target ortho --group se --d 2 --r 1 2 3 --m 5 10 15 20"
  "--target ortho --group t --d 2 --r 1 2 3 --m 5 10 15 20"
  "--target quad --group se --d 1 --r 1 --m 5 10 15 20"
  "--target ortho --group se --d 2 --r 1 2 3 --m 25"
  "--target ortho --group se --d 2 --r 1 2 3 --m 30"
  "--target ortho --group t --d 2 --r 1 2 3 --m 25 30 35"
  "--target ortho --group t --d 2 --r 1 2 3 --m 40"
  "--target ortho --group t --d 2 --r 1 2 3 --m 45"
  "--target ortho --group t --d 2 --r 1 2 3 --m 50"
  "--target quad --group se --d 1 --r 1 --m 25 30"
  "--target ortho --group se --d 4 --r 1 2 3 --m 5 6 7 8 9 10"
  "--target ortho --group t --d 4 --r 1 2 3 --m 5 6 7 8 9 10"
  "--target quad --group se --d 2 --r 1 2 --m 5 6 7 8 9 10"
  "--target ortho --group t --d 3 --r 1 2 3 --m 6 7 8 9 10 11 12 13 14 15 16"
  "--target ortho --group se --d 3 --r 1 2 3 --m 6 7 8 9 10 11"
  "--target ortho --group se --d 3 --r 1 2 3 --m 12 13 14"
  "--target ortho --group se --d 3 --r 1 2 3 --m 15 16"
)
first=${1:-1}
for ((i = first - 1; i < ${#chunks[@]}; i++)); do
  start=$(date -u +%Y-%m-%dT%H:%M:%S)
  t0=$(date +%s.%N)
  # shellcheck disable=SC2086
  OPENBLAS_NUM_THREADS=1 $SYMLIE bench recovery ${chunks[i]} --seeds 0-9
  t1=$(date +%s.%N)
  printf '%s\t%.1f\t%s\n' "$start" "$(echo "$t1 - $t0" | bc)" "${chunks[i]}" >> "$LOG"
done
