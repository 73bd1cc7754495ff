#!/bin/bash
# csp on a Slurm cluster: one GA engine (rank 0) + N-1 relaxing ranks.
#
#   sbatch examples/slurm.sh examples/srb12_50gpa.toml
#
# Rank 0 runs the engine and writes <outdir>/csp.db; every other rank relaxes one
# candidate at a time. With the ML relaxer a rank needs one core. With a DFT stage
# (e.g. [[relaxer.stages]] with Quantum ESPRESSO) each rank launches pw.x itself from
# the stage's command template, e.g. command = "srun --exclusive -n 4 pw.x", with the
# GA's MPI environment stripped; then ask for (ranks - 1) x 4 extra cores, and use
# --ntasks for the GA ranks and --cpus-per-task for the DFT cores.
#
# Wall time: csp stops cleanly before the allocation ends (--walltime a few minutes
# shorter than the job's limit, or on SIGTERM, which Slurm sends before SIGKILL when
# --signal is set). Finished relaxations are in the database; those in flight are
# marked "pending" and redone. Resubmit the same script: --resume continues.
#SBATCH --job-name=csp
#SBATCH --ntasks=9
#SBATCH --cpus-per-task=1
#SBATCH --time=04:00:00
#SBATCH --signal=TERM@300
#SBATCH --output=csp-%j.out

set -euo pipefail
CONFIG=${1:?usage: sbatch slurm.sh CONFIG.toml}

# one thread per rank for numpy/numba/torch (csp also sets these per worker)
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
export OPENBLAS_NUM_THREADS=$OMP_NUM_THREADS MKL_NUM_THREADS=$OMP_NUM_THREADS

# 3h50 of a 4h allocation; resume whatever the previous allocation left
srun --ntasks="$SLURM_NTASKS" csp run "$CONFIG" --resume --walltime 03:50:00
# (without srun's PMI: mpirun -n "$SLURM_NTASKS" csp run "$CONFIG" --resume ...)
