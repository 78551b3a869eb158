#!/usr/bin/env bash
# A sharded sweep as a Slurm job array: 16 tasks, each one slice of cascade seeds
# 1..1000000 (--shard auto reads SLURM_ARRAY_TASK_ID with SLURM_ARRAY_TASK_MIN/MAX or
# SLURM_ARRAY_TASK_COUNT). Submit with `sbatch deploy/slurm-array.sh`; a requeued task
# resumes its shard from its database. Merge when all are done:
#   faultline merge results/all.db results/shard-*.db
#SBATCH --job-name=faultline-cascade
#SBATCH --array=1-16
#SBATCH --cpus-per-task=2
#SBATCH --time=02:00:00
#SBATCH --requeue
set -u
FL="${FAULTLINE:-./build/release/faultline}"
mkdir -p results
"$FL" sweep --scenario cascade --seeds 1..1000000 --jobs "${SLURM_CPUS_PER_TASK:-2}" --shard auto \
  --db "results/shard-${SLURM_ARRAY_TASK_ID}.db" --junit "results/shard-${SLURM_ARRAY_TASK_ID}.xml"
rc=$?
# Exit 1 means failures were found and recorded: the task itself succeeded.
[[ $rc -le 1 ]]
