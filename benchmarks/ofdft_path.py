'''Why OF-DFT with KineticNet collapses beyond two electrons, and whether path data helps.

Two tables, for each KineticNet weight file given:

1. the learned Pauli energy against the exact one on ``pyscf_ml.data ofdft-path`` samples: KS
   states (found by Wu-Yang inversion) between the KS density (t = 0) and the OF-DFT minimum of
   the model that generated the data (t = 1);
2. density optimisation from the SAD start against RKS (LDA, unc-cc-pvdz, grid level 2) on
   validation geometries, which are neither the benchmark's (benchmarks/ofdft.py) nor training
   ones: LiH at 1.45 and 1.75 Angstrom, H2 at 0.8, HeH+ at 0.9, and two H4 chains (uniform
   0.95 Angstrom spacing, and dimerised 0.85 / 1.05 / 0.85; the benchmark's is 0.9 uniform).

    python benchmarks/ofdft_path.py --data runs/ofdft_data/lih_path_test.pt \\
        --weights shipped=pyscf_ml/weights/kineticnet.pt candidate=runs/kn10/A/kineticnet.pt \\
        --out benchmarks/results/ofdft_path.md
'''
import argparse
import sys
import warnings

import numpy as np
import torch
from ofdft import KCAL as HARTREE_TO_KCAL  # benchmarks/ofdft.py
from ofdft import ks_reference, of_against_ks
from pyscf import gto
from weight_args import kineticnet_files, tag_file_pairs  # benchmarks/weight_args.py

from pyscf_ml.ofdft.learned import KineticNetFunctional
from pyscf_ml.train.kineticnet import predict

VALIDATION = [('LiH 1.45', 'Li 0 0 0; H 0 0 1.45', 0), ('LiH 1.75', 'Li 0 0 0; H 0 0 1.75', 0),
              ('H2 0.8', 'H 0 0 0; H 0 0 0.8', 0), ('HeH+ 0.9', 'He 0 0 0; H 0 0 0.9', 1),
              ('H4 0.95', 'H 0 0 0; H 0 0 0.95; H 0 0 1.9; H 0 0 2.85', 0),
              ('H4 0.85/1.05', 'H 0 0 0; H 0 0 0.85; H 0 0 1.9; H 0 0 2.75', 0)]


def pauli_table(samples, models):
    rows = []
    for tag, kin in models.items():
        for t in sorted({s['mix'] for s in samples}):
            sel = [s for s in samples if s['mix'] == t]
            ref = np.array([s['T_pauli'] for s in sel])
            with torch.no_grad():
                pred = np.array([predict(kin.model, s, with_deriv=False)[0].item()
                                 for s in sel])
            rows.append((tag, t, len(sel), ref.mean(), pred.mean(),
                         np.abs(pred - ref).mean() * HARTREE_TO_KCAL,
                         np.mean([s['inversion_drho'] for s in sel])))
    return rows


def density_opt_table(models):
    rows = []
    for name, atom, charge in VALIDATION:
        mol = gto.M(atom=atom, charge=charge, basis='unc-cc-pvdz', verbose=0)
        ks = ks_reference(mol, 2)
        for tag, kin in models.items():
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')
                de, drho, conv, _ = of_against_ks(mol, ks, kin, 2)
            rows.append((name, tag, de, drho, conv))
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', required=True, help='file from python -m pyscf_ml.data ofdft-path')
    p.add_argument('--weights', nargs='+', required=True,
                   help='TAG=weights.pt, or TAG=a.pt+b.pt+... for the mean of several networks')
    p.add_argument('--out', help='write the tables to this markdown file')
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    models = {}
    for tag, path in tag_file_pairs(args.weights):
        models[tag] = KineticNetFunctional(weights=kineticnet_files(path), device='cpu')
    samples = torch.load(args.data, map_location='cpu', weights_only=False)['samples']
    cmd = 'python benchmarks/ofdft_path.py ' + ' '.join(sys.argv[1:] if argv is None else argv)
    lines = [f'Command: `{cmd}`', '',
             '## 1. Pauli energy on ofdft-path samples (Ha; MAE in kcal/mol)', '',
             't = fraction of the way from the KS density to the generating model\'s OF-DFT '
             'minimum; int|drho| = how far the inverted KS state is from that target (e).', '',
             '| weights | t | n | T_P exact (mean) | T_P model (mean) | MAE | int|drho| |',
             '|---|---|---|---|---|---|---|']
    for r in pauli_table(samples, models):
        lines.append('| %s | %g | %d | %.3f | %.3f | %.1f | %.2f |' % r)
    lines += ['', '## 2. Density optimisation from SAD against RKS-LDA (validation geometries)',
              '', '| system | weights | E_OF - E_KS (kcal/mol) | int|drho| (e) | converged |',
              '|---|---|---|---|---|']
    for r in density_opt_table(models):
        lines.append('| %s | %s | %+.2f | %.3f | %s |' % r)
    text = '\n'.join(lines) + '\n'
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
