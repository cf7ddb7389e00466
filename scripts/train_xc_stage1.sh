#!/usr/bin/env bash
# Reproduces the shipped first-stage nn-* weights (energy-density fits; each model card in
# pyscf_ml/weights records the exact command, data hash and metrics).
#  - nn-lsda, nn-gga: fitted to SVWN5 / PBE on 12 small molecules and 6 atoms;
#  - nn-metagga, nn-nra: fitted to SCAN on all 55 G2-1 molecules and the 14 G2/97 atoms, with
#    the E_xc part of the atomization energies in the loss (needs ase: pip install -e '.[g2]').
#    ~32 min each on one core (the two run side by side).
set -e
cd "$(dirname "$0")/.."
mkdir -p runs
[ -f data/xc_grid.npz ] || python -m pyscf_ml.data xc-grid --out data/xc_grid.npz
[ -f data/xc_grid_g2-1.npz ] || python -m pyscf_ml.data xc-grid --set g2-1 --out data/xc_grid_g2-1.npz
for form in nn-metagga nn-nra; do
  f=${form//-/_}
  python -m pyscf_ml.train xc --form $form --data data/xc_grid_g2-1.npz --steps 2500 \
    --points 100000 --precision float32 --ae-weight 1e-5 --threads 1 \
    --out pyscf_ml/weights/$f.pt --log runs/train_$f.log --checkpoint runs/train_$f.ckpt --resume &
done
wait
for form in nn-lsda nn-gga; do
  f=${form//-/_}
  python -m pyscf_ml.train xc --form $form --data data/xc_grid.npz --steps 800 \
    --out pyscf_ml/weights/$f.pt --log runs/train_$f.log --checkpoint runs/train_$f.ckpt --resume
done
