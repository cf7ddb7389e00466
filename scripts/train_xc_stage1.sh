#!/usr/bin/env bash
# Reproduces the shipped nn-* weights. Stage-1 training of the shipped nn-* weights (see each model card for the exact command).
set -e
python -m pyscf_ml.data xc-grid --out data/xc_grid.npz
for form in nn-lsda nn-gga nn-metagga nn-nra; do
  f=${form//-/_}
  python -m pyscf_ml.train xc --form $form --data data/xc_grid.npz --steps 150 \
    --out pyscf_ml/weights/$f.pt --log runs/train_$f.log --checkpoint runs/train_$f.ckpt --resume
done
