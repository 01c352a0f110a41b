#!/bin/bash
#SBATCH --job-name=convbench --array=1-8 --nodes=1 --ntasks=1 --exclusive --time=02:00:00
#SBATCH --requeue --open-mode=append --output=runs/slurm-%A_%a.out
##SBATCH --gres=gpu:1                  # on GPU nodes: drop one '#'
# `exec`: convbench becomes the job's process, so the signal of a cancel, requeue or timeout reaches
# it and it stops cleanly, its rows whole (a shell in between dies at once, and SLURM then kills
# convbench mid-row). slurm/8: this task's shard of 8, whatever the array re-submits.
exec convbench run configs/all.yaml --device auto --processes 5 \
    --shard slurm/8 --resume "runs/all-shard$SLURM_ARRAY_TASK_ID"
