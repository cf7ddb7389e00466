'''Grid samples of conventional XC energy densities: the first training stage of nn-*.

For each system: a PBE/def2-SVP UKS density on a PySCF grid, its spin-resolved meta-GGA rows,
the grid weights, the NN-NRA descriptor R (whole grid), the XC energy density n*eps_xc of
SVWN, PBE and SCAN from libxc at that density, and the rest of the PBE total energy (e_nonxc).

    python -m pyscf_ml.data xc-grid --out data/xc_grid.npz                 # 12 molecules, 6 atoms
    python -m pyscf_ml.data xc-grid --set g2-1 --out data/xc_grid_g2-1.npz  # 55 + 14 atoms
    python -m pyscf_ml.data xc-grid --set g2-1 --basis def2-tzvp --out data/xc_grid_g2-1_tzvp.npz

``--set g2-1`` takes every G2-1 molecule and all 14 G2/97 atoms from ase (``pip install
-e '.[g2]'``); G2-2 molecules are never sampled (they are the test set of the benchmark).
'''
import argparse
import json
import os
import time
from collections import Counter

import numpy as np
from pyscf import dft, gto

from pyscf_ml.data.molecules import SYSTEMS
from pyscf_ml.xc.nonlocal_numint import rho_on_grid
from pyscf_ml.xc.nra_kernel import get_kernel

TARGETS = ('svwn', 'pbe', 'scan')


def build_mole(name, basis, source='builtin', verbose=0):
    '''A molecule of the built-in stage-1 list, or (source 'g2') a G2/97 molecule or atom.'''
    if source == 'g2':
        from pyscf_ml.data import g2
        if name in g2.molecule_names('g2-2'):
            raise ValueError(f'{name} is a G2-2 molecule: the benchmark test set, never sampled')
        return g2.mole(name, basis, verbose=verbose)
    atom, spin = SYSTEMS[name]
    return gto.M(atom=atom, spin=spin, basis=basis, verbose=verbose)


def sample_system(name, basis='def2-svp', grid_level=2, verbose=0, source='builtin'):
    '''The grid arrays of one system and its composition {element: count}.'''
    mol = build_mole(name, basis, source, verbose)
    mf = dft.UKS(mol, xc='pbe')
    mf.grids.level = grid_level
    mf.conv_tol = 1e-9
    mf.kernel()
    if not mf.converged:
        mf = mf.newton().run()     # some radicals (e.g. SiH2, ClO) need second-order steps
    if not mf.converged:
        raise RuntimeError(f'PBE SCF for {name} did not converge')
    grids = mf.grids
    dm = mf.make_rdm1()
    rho = rho_on_grid(mf._numint, mol, grids, dm)          # (2, 5, N)
    w = grids.weights
    R = get_kernel(grids.coords).matvec(w * rho[:, 0].sum(0))
    # everything in the PBE total energy but E_xc (kinetic, nuclear, Hartree): with it any
    # functional's E_xc at this density gives a non-self-consistent total energy
    e_nonxc = mf.e_tot - mf.get_veff(mol, dm).exc
    out = {'rho': rho, 'weights': w, 'R': R, 'e_nonxc': np.float64(e_nonxc)}
    for xc in TARGETS:
        nvar = {'LDA': 1, 'GGA': 4, 'MGGA': 5}[dft.libxc.xc_type(xc)]
        eps = dft.libxc.eval_xc(xc, rho[:, :nvar], spin=1, deriv=0)[0]
        out[f'e_{xc}'] = eps * rho[:, 0].sum(0)
    composition = Counter(mol.atom_pure_symbol(i) for i in range(mol.natm))
    return out, dict(sorted(composition.items()))


def main(argv=None):
    p = argparse.ArgumentParser(prog='python -m pyscf_ml.data xc-grid', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', default='data/xc_grid.npz')
    p.add_argument('--set', choices=['builtin', 'g2-1'], default='builtin',
                   help='builtin: the 12 molecules and 6 atoms of molecules.SYSTEMS; '
                        'g2-1: the 55 G2-1 molecules and the 14 G2/97 atoms')
    p.add_argument('--systems', nargs='*', help='a subset of the set\'s systems')
    p.add_argument('--basis', default='def2-svp')
    p.add_argument('--grid-level', type=int, default=2)
    args = p.parse_args(argv)
    source = 'g2' if args.set == 'g2-1' else 'builtin'
    if args.systems is None:
        if source == 'g2':
            from pyscf_ml.data import g2
            args.systems = g2.molecule_names('g2-1') + g2.atom_names()
        else:
            args.systems = list(SYSTEMS)
    arrays, compositions, t0 = {}, {}, time.perf_counter()
    for k, name in enumerate(args.systems):
        sample, compositions[name] = sample_system(name, args.basis, args.grid_level,
                                                   source=source)
        for key, value in sample.items():
            arrays[f'{name}/{key}'] = value
        print(f'[{k + 1}/{len(args.systems)}] {name}: {sample["weights"].size} points, '
              f'{time.perf_counter() - t0:.0f}s', flush=True)
    meta = dict(set=args.set, systems=args.systems, basis=args.basis, grid_level=args.grid_level,
                density='PBE UKS', targets=TARGETS, compositions=compositions)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    np.savez_compressed(args.out, meta=json.dumps(meta), **arrays)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
