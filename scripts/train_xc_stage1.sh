#!/usr/bin/env bash
# Reproduces the shipped nn-* weights (first training stage: energy-density fits; see each
# model card in pyscf_ml/weights for the exact command, data hash and metrics).
set -e
cd "$(dirname "$0")/.."
mkdir -p runs
[ -f data/xc_grid.npz ] || python -m pyscf_ml.data xc-grid --out data/xc_grid.npz
for form in nn-metagga nn-nra nn-lsda nn-gga; do
  f=${form//-/_}
  python -m pyscf_ml.train xc --form $form --data data/xc_grid.npz --steps 800 \
    --out pyscf_ml/weights/$f.pt --log runs/train_$f.log --checkpoint runs/train_$f.ckpt --resume
done
