'''Cost of the density term of SCF-in-the-loop training: one CPKS solve against one SCF.

For each G2 molecule (nn-nra by default, def2-TZVP, default grids, density fitting, as in
training): a cold SCF with the training system of ``pyscf_ml.train.scf_loop`` (the NN-NRA kernel
build included), then the CPKS density response to one random symmetric perturbation at each
tolerance, and how far the looser solution is from the tightest.

    python benchmarks/xc_cpks_cost.py [--molecules H2O,NO] [--form nn-nra] [--threads 2]
'''
import argparse
import time

import numpy as np
import torch

import pyscf_ml  # noqa: F401  (registers the nn-* names)
from pyscf_ml.data import g2
from pyscf_ml.train.scf_loop import TrainingSystem
from pyscf_ml.xc.forms import form_spec
from pyscf_ml.xc.registry import lookup


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--molecules', default='H2O,NO')
    p.add_argument('--form', default='nn-nra')
    p.add_argument('--basis', default='def2-tzvp')
    p.add_argument('--tols', default='1e-10,1e-6')
    p.add_argument('--threads', type=int, default=0)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    tols = [float(t) for t in args.tols.split(',')]
    net = lookup(args.form).net()
    print(f'# {args.form}, {args.basis}, torch threads {torch.get_num_threads()}')
    print('| molecule | nao | SCF cycles | SCF (s) | '
          + ' | '.join(f'CPKS tol {t:g} (s)' for t in tols) + ' | max rel. change of Z |')
    print('|---|---|---|---|' + '---|' * len(tols) + '---|')
    for name in args.molecules.split(','):
        s = TrainingSystem(name, g2.mole(name, args.basis), form_spec(args.form), args.form)
        t0 = time.perf_counter()
        s.run_scf()
        t_scf = time.perf_counter() - t0
        rng = np.random.default_rng(0)
        h = rng.standard_normal((s.mol.nao, s.mol.nao))
        h1 = np.stack([h + h.T] * (s.spin + 1))
        times, zs = [], []
        for tol in tols:
            s.cpks_tol = tol
            t0 = time.perf_counter()
            zs.append(s.density_response(net, h1))
            times.append(time.perf_counter() - t0)
        change = abs(zs[-1] - zs[0]).max() / abs(zs[0]).max()
        print(f'| {name} | {s.mol.nao} | {s.cycles} | {t_scf:.1f} | '
              + ' | '.join(f'{t:.1f}' for t in times) + f' | {change:.1e} |', flush=True)


if __name__ == '__main__':
    main()
