'''Grid samples of conventional XC energy densities: the first training stage of nn-*.

For each system: a PBE/def2-SVP UKS density on a PySCF grid, its spin-resolved meta-GGA rows,
the grid weights, the NN-NRA descriptor R (whole grid), and the XC energy density n*eps_xc of
SVWN, PBE and SCAN from libxc at that density.

    python -m pyscf_ml.data xc-grid --out data/xc_grid.npz
'''
import argparse
import json
import os
import time

import numpy as np
from pyscf import dft, gto

from pyscf_ml.data.molecules import SYSTEMS
from pyscf_ml.xc.nonlocal_numint import rho_on_grid
from pyscf_ml.xc.nra_kernel import get_kernel

TARGETS = ('svwn', 'pbe', 'scan')


def sample_system(name, basis='def2-svp', grid_level=2, verbose=0):
    atom, spin = SYSTEMS[name]
    mol = gto.M(atom=atom, spin=spin, basis=basis, verbose=verbose)
    mf = dft.UKS(mol, xc='pbe')
    mf.grids.level = grid_level
    mf.conv_tol = 1e-9
    mf.kernel()
    if not mf.converged:
        raise RuntimeError(f'PBE SCF for {name} did not converge')
    grids = mf.grids
    rho = rho_on_grid(mf._numint, mol, grids, mf.make_rdm1())          # (2, 5, N)
    w = grids.weights
    R = get_kernel(grids.coords).matvec(w * rho[:, 0].sum(0))
    out = {'rho': rho, 'weights': w, 'R': R}
    for xc in TARGETS:
        nvar = {'LDA': 1, 'GGA': 4, 'MGGA': 5}[dft.libxc.xc_type(xc)]
        eps = dft.libxc.eval_xc(xc, rho[:, :nvar], spin=1, deriv=0)[0]
        out[f'e_{xc}'] = eps * rho[:, 0].sum(0)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(prog='python -m pyscf_ml.data xc-grid', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', default='data/xc_grid.npz')
    p.add_argument('--systems', nargs='*', default=list(SYSTEMS))
    p.add_argument('--basis', default='def2-svp')
    p.add_argument('--grid-level', type=int, default=2)
    args = p.parse_args(argv)
    arrays, t0 = {}, time.perf_counter()
    for k, name in enumerate(args.systems):
        sample = sample_system(name, args.basis, args.grid_level)
        for key, value in sample.items():
            arrays[f'{name}/{key}'] = value
        print(f'[{k + 1}/{len(args.systems)}] {name}: {sample["weights"].size} points, '
              f'{time.perf_counter() - t0:.0f}s', flush=True)
    meta = dict(systems=args.systems, basis=args.basis, grid_level=args.grid_level,
                density='PBE UKS', targets=TARGETS)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    np.savez_compressed(args.out, meta=json.dumps(meta), **arrays)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
