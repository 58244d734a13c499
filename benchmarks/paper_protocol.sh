#!/usr/bin/env bash
# Full paper-protocol run (Adam 1e-4, batch 64, up to 3000 epochs, early stop
# after epoch 500 with patience 50) of one class/configuration, timed, with the
# log kept under benchmarks/logs/. Usage:
#   bash benchmarks/paper_protocol.sh bottle squares_rows paper
#   bash benchmarks/paper_protocol.sh head_ct squares_rows paper
# Interrupted? Run the same line again: training resumes from its last checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
class=${1:-bottle}; config=${2:-squares_rows}; masking=${3:-paper}; shift $(( $# < 3 ? $# : 3 )) || true
extra=${*:-}
mkdir -p benchmarks/logs
log=benchmarks/logs/${class}-${config}-${masking}.log
. .venv/bin/activate
{
  echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(uname -m) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "# kedro run --pipelines=train_eval --params class=${class},config=${config},masking=${masking},training.progress=false${extra:+,$extra}"
} | tee "$log"
start=$(date +%s)
KEDRO_LOGGING_CONFIG=conf/logging.yml kedro run --pipelines=train_eval \
  --params "class=${class},config=${config},masking=${masking},training.progress=false${extra:+,$extra}" 2>&1 | tee -a "$log"
echo "# wall seconds: $(( $(date +%s) - start ))" | tee -a "$log"
