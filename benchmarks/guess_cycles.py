'''Pieces shared by the benchmarks that start a PBE/def2-SVP SCF from a given Fock matrix and
count its cycles (``lindep_threshold.py``, ``fock_noise_cycles.py``).'''
import json

import torch
from pyscf import dft


def val_samples(paths, n):
    '''The first ``n`` validation samples of the data files (never the test split).'''
    out = []
    for path in [paths] if isinstance(paths, str) else paths:
        out += [s for s in torch.load(path, map_location='cpu', weights_only=False)['samples']
                if s['split'] == 'val']
    return out[:n]


def cycles_from(mol, dm0, conv_tol):
    '''Cycles (and convergence) of a fresh ``dft.RKS(mol, xc='pbe')`` from ``dm0``; None: MINAO.'''
    mf = dft.RKS(mol, xc='pbe')
    mf.conv_tol = conv_tol
    mf.kernel(dm0=dm0)
    return mf.cycles, bool(mf.converged)


def write_results(out, markdown, table):
    '''OUT.md (the printed table) and OUT.json (the numbers behind it).'''
    with open(out + '.md', 'w') as f:
        f.write(markdown)
    with open(out + '.json', 'w') as f:
        json.dump(table, f, indent=2)
