'''Is a functional's SCF energy smooth enough for the SCF to converge on default grids?

For each functional: a DIIS SCF (def2-TZVP, density fitting, default level-3 grids, conv_tol
1e-8, at most 60 cycles, as step 1 of benchmarks/g2_atomization.py), then, at its last
density, the energy along the normalised orbital gradient x: the ratio of the central
difference (E(t) - E(-t)) / 2t to the analytic slope g.x at shrinking t.  A smooth energy
gives ratio 2 (PySCF's gradient convention, real rotations) at every t; a ratio that changes
sign is quadrature noise in E_xc, which stalls DIIS and Newton alike.

    python benchmarks/xc_smoothness.py --molecule H2CCO \\
        --functionals nn-metagga,old=nn-metagga:runs/train_xc/nn_metagga_stage1c.pt,scan

``NAME=FORM:PATH`` registers a weight file (our format or the published one) under NAME.
'''
import argparse
import time

import numpy as np
import scipy.linalg
from pyscf import dft

import pyscf_ml
from pyscf_ml.data import g2

STEPS = (1e-2, 3e-3, 1e-3, 3e-4)


def resolve(spec):
    '''"name", or "name=form:path" (registered here); returns the name PySCF will see.'''
    if '=' not in spec:
        return spec
    name, rest = spec.split('=', 1)
    form, path = rest.split(':', 1)
    pyscf_ml.xc.register(name, form, path, overwrite=True)
    return name


def energy_slope_ratios(mf, dm):
    '''(E(t) - E(-t)) / 2t over g.x along the normalised orbital gradient, for t in STEPS.'''
    mol = mf.mol
    fock = mf.get_fock(dm=dm)
    mo_energy, mo = mf.eig(fock, mf.get_ovlp())
    occ = mf.get_occ(mo_energy, mo)
    nocc = int((occ > 0).sum())
    nvir = len(occ) - nocc

    def energy(kappa):
        k = np.zeros((len(occ),) * 2)
        k[nocc:, :nocc] = kappa.reshape(nvir, nocc)
        d = mf.make_rdm1(mo @ scipy.linalg.expm(k - k.T), occ)
        return mf.energy_tot(d, vhf=mf.get_veff(mol, d))

    dm0 = mf.make_rdm1(mo, occ)
    g0 = mf.newton().gen_g_hop(mo, occ, mf.get_fock(dm=dm0))[0]
    x = g0 / np.linalg.norm(g0)
    ratios = [(energy(t * x) - energy(-t * x)) / (2 * t) / (g0 @ x) for t in STEPS]
    return np.linalg.norm(g0), ratios


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--molecule', default='H2CCO', help='a closed-shell G2/97 name')
    p.add_argument('--functionals', default='nn-metagga,scan')
    p.add_argument('--basis', default='def2-tzvp')
    args = p.parse_args(argv)
    mol = g2.mole(args.molecule, args.basis)
    if mol.spin:
        raise SystemExit('a closed-shell molecule, please (RKS)')
    print(f'# {args.molecule}, {args.basis}, DF def2-universal-jkfit, default grids; ratio 2 = '
          f'smooth; PySCF {__import__("pyscf").__version__}')
    head = ['functional', 'converged', 'cycles', 'SCF s', 'orbital gradient at end'] + [
        f'ratio t={t:g}' for t in STEPS]
    print('| ' + ' | '.join(head) + ' |')
    print('|' + '---|' * len(head))
    for spec in args.functionals.split(','):
        xc = resolve(spec)
        mf = dft.RKS(mol, xc=xc).density_fit(auxbasis='def2-universal-jkfit')
        mf.conv_tol, mf.max_cycle, mf.verbose = 1e-8, 60, 0
        t0 = time.perf_counter()
        mf.kernel()
        seconds = time.perf_counter() - t0
        gnorm, ratios = energy_slope_ratios(mf, mf.make_rdm1())
        row = [spec.split('=')[0], str(mf.converged), str(mf.cycles), f'{seconds:.0f}',
               f'{gnorm:.1e}'] + [f'{r:.3f}' for r in ratios]
        print('| ' + ' | '.join(row) + ' |', flush=True)


if __name__ == '__main__':
    main()
