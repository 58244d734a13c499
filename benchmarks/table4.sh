#!/usr/bin/env bash
# The Table 4-style comparison at full size: MeTAL with the default recipe and with the paper recipe
# against the l2-AE and SSIM-AE of Bergmann et al. 2019, on bottle and on Head CT, over seeds,
# every method x seed its own run on one shared split (kedro run --pipelines=baselines; README.md,
# "Baselines"). Each class is one command, timed, with its log kept under benchmarks/logs/.
# Usage:
#   bash benchmarks/table4.sh                       # bottle and head_ct, 3 seeds
#   SEEDS=5 CLASSES=head_ct bash benchmarks/table4.sh
#   SEEDS=1+2 CLASSES=bottle bash benchmarks/table4.sh    # just seeds 1 and 2 (join to seed 0 with kedro merge-tables)
#   bash benchmarks/table4.sh conv_ae.training.max_epochs=1000   # extra --params for every command
# Interrupted? (SIGTERM to the process group: tee ignores it, so what kedro prints while it saves its
# checkpoint still reaches the log.) Run the same line again: finished runs are reused (also those trained by train_eval or
# the ablation with the same parameters), the others resume from their last checkpoint.
#
# Wall time, measured (eighth session, docs/RESULTS.md; 2 threads, mostly quiet): Head CT with 3 seeds took
# 1.7 h with the default recipe's trainings reused (about 1.9 h from nothing): per run the paper recipe 5-7.4 min
# (1243-1796 epochs), l2-AE 8.1-9.4 min (507-792 epochs), SSIM-AE 9.0-11.4 min (736-893 epochs), the default
# recipe about 3-4 min of training plus 8.5 min for its discriminative head. On bottle an l2-AE epoch took
# 1.6-1.9 s.
# The earlier estimate, before any full-size run: an autoencoder epoch took 3.4-3.9 s on bottle
# (188 training images, 3 channels) with 1 thread, nice'd, on the 2-core machine while a training ran
# (5 timed epochs per autoencoder); Head CT has 72 one-channel training images (about 1.2-1.5 s an
# epoch, scaled). The autoencoders train with the paper recipe's stopping rule: at least 500 and at
# most 3000 epochs. Per autoencoder run: bottle 30 min to 3.2 h, Head CT 10 min to 1.2 h. MeTAL
# (measured, docs/RESULTS.md): bottle 19 min (default) and 77 min (paper) a seed, Head CT 20-24 min
# (default) and 24 min (paper). With 3 seeds: bottle 8-24 h, Head CT 3.5-10 h; less with 2 threads on
# a quiet machine, where finished runs are reused, and where early stopping ends the autoencoders
# before 3000 epochs.
set -euo pipefail
cd "$(dirname "$0")/.."
classes=${CLASSES:-bottle head_ct}
seeds=${SEEDS:-3}
extra=$(IFS=,; echo "$*")
mkdir -p benchmarks/logs
. .venv/bin/activate
for class in $classes; do
  params="class=${class},seeds=${seeds},training.progress=false${extra:+,$extra}"
  log=benchmarks/logs/table4-${class}-seeds${seeds}.log
  {
    echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(uname -m) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
    echo "# kedro run --pipelines=baselines --params ${params}"
  } | tee "$log"
  start=$(date +%s)
  KEDRO_LOGGING_CONFIG=conf/logging.yml kedro run --pipelines=baselines --params "$params" 2>&1 | (trap '' TERM; exec tee -a "$log")
  echo "# wall seconds: $(( $(date +%s) - start ))" | tee -a "$log"
  echo "# table: $(ls -td data/08_reporting/${class}-table4-*/ 2>/dev/null | head -1)table4.md" | tee -a "$log"
done
