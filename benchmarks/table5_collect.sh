#!/usr/bin/env bash
# Collect Head CT Table 5 over seeds 0-2 for one recipe from the runs on this machine.
# Seed 0 is benchmarks/results/table5_head_ct_<recipe>_seed0_runs.csv (one `--params class=head_ct`
# ablation). Seeds 1-2 come one configuration per command (benchmarks/queues/tables.txt, e.g.
# `kedro run --pipelines=ablation --params class=head_ct,configs=squares,seeds=1+2`); each command
# leaves data/08_reporting/head_ct-<recipe>-ablation-*-s1+2-*/ablation_runs.csv. This folds those into
# the committed table5_head_ct_<recipe>_seeds1-2_runs.csv (a run already there is kept once, by run
# name), then merges seed 0 with seeds 1-2 into table5_head_ct_<recipe>_merged{.md,.png,_runs.csv,_table.csv}.
# Usage: bash benchmarks/table5_collect.sh default|paper
set -euo pipefail
cd "$(dirname "$0")/.."
recipe=${1:?usage: bash benchmarks/table5_collect.sh default|paper}
. .venv/bin/activate
results=benchmarks/results/table5_head_ct_${recipe}
seeds12=${results}_seeds1-2
shopt -s nullglob
files=(data/08_reporting/head_ct-${recipe}-ablation-*-s1+2-*/ablation_runs.csv)
[ -f "${seeds12}_runs.csv" ] && files=("${seeds12}_runs.csv" "${files[@]}")
[ ${#files[@]} -gt 0 ] || { echo "no seed 1-2 runs for recipe ${recipe}" >&2; exit 2; }
python -m metal_pipeline.cli.merge_tables "${files[@]}" --out "$seeds12" --runs-only > /dev/null
python -m metal_pipeline.cli.merge_tables "${results}_seed0_runs.csv" "${seeds12}_runs.csv" --out "${results}_merged" \
  | grep -v '^wrote '
