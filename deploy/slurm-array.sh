#!/bin/bash
# vmtriage batch as a Slurm job array: one array task per shard, each
# triaging the dumps whose path hashes to its task id, then one dependent
# job merging the shards into one JSONL and one bucket summary.
#
#   jid=$(sbatch --parsable deploy/slurm-array.sh /queue/cores /queue/results)
#   sbatch --dependency=afterany:$jid --wrap \
#     "vmtriage merge /queue/results/shard-*.jsonl --out /queue/results/all.jsonl"
#
# The array size (--array=0-3) and SHARDS must agree. A requeued task resumes
# (--resume) and loses no finished line.
#SBATCH --job-name=vmtriage-batch
#SBATCH --array=0-3
#SBATCH --cpus-per-task=2
#SBATCH --mem=4G
#SBATCH --time=06:00:00
#SBATCH --output=vmtriage-%A_%a.log
set -u
CORES=${1:-/queue/cores}
RESULTS=${2:-/queue/results}
SHARDS=${SHARDS:-4}
mkdir -p "$RESULTS"
vmtriage batch "$CORES" \
  --shard "${SLURM_ARRAY_TASK_ID}/${SHARDS}" \
  --debug-dir "${DEBUG_DIR:-/usr/lib/debug}" \
  --jobs "${SLURM_CPUS_PER_TASK:-2}" \
  --resume \
  --out "$RESULTS/shard-${SLURM_ARRAY_TASK_ID}.jsonl" \
  --summary-json "$RESULTS/summary-${SLURM_ARRAY_TASK_ID}.json" \
  --progress log
status=$?
# 0 no finding, 1 findings: both are a successful triage; 2 is a failure
[ "$status" -le 1 ] && exit 0
exit "$status"
