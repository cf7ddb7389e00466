'''KS reference data at the densities an OF-DFT optimisation visits
(``python -m pyscf_ml.data ofdft-path``).

A kinetic functional trained only on KS ground-state densities is unconstrained off that
manifold, and a density optimisation goes exactly there: with the stage-2 KineticNet (shipped
until stage 5 was trained on this data), OF-DFT on LiH ended 1.1 Ha below KS, and on the KS
states nearest its minimum (1.6 e away) its Pauli term was 0.66 Ha where the exact one is
2.83 Ha (held-out LiH, benchmarks/results/ofdft_path.md).  This command labels such densities:

1. a random training geometry and random potential, exactly as ``pyscf_ml.data ofdft`` draws
   them (same seeds give the same systems), its KS density D_KS, and the OF-DFT minimum
   D_OF of the model ``--weights`` in the same potential, started from MINAO;
2. for each ``t`` in ``--mix``, the target D_t = (1 - t) D_KS + t D_OF is inverted with the
   Wu-Yang method (J. Chem. Phys. 118, 2498 (2003)): potentials
   v_s = v_nuc + v_ext + v_H[D_t] + v_xc[D_t] + sum_k b_k g_k (atom-centred Gaussians g_k)
   maximise the concave W(b) = sum_occ 2 eps_i - int v_b rho_t - lam |b|^2.  A target that
   no single determinant reproduces drives the maximiser to a degenerate HOMO, so among the
   iterates whose HOMO-LUMO gap is at least ``--min-gap`` the one with the smallest
   |dW/db| (the density residual seen by the potential basis) is kept.  That state is not
   necessarily the closest to D_t in int|drho| (logged per sample), so t is a nominal
   position on the path;
3. its density D_b and v_s are labelled exactly as KS samples (``pyscf_ml.data.ofdft.labels``):
   D_b is the ground state of T + v_s, so T_s = Tr(T D_b) and dT_s/drho = mu - v_s hold
   exactly, wherever D_b ended.  A target is dropped only if no iterate has the gap.

Example (the data of the third KineticNet training stage, see its model card)::

    python -m pyscf_ml.data ofdft-path --molecules LiH --n-per-mol 40 --seed 3 \\
        --weights runs/kineticnet2/kineticnet.pt --out runs/ofdft_data/lih_path.pt
'''
import argparse
import os
import sys

import numpy as np
import scipy.linalg
import scipy.optimize
from pyscf import dft, gto, lib
from pyscf.df import incore

from pyscf_ml.data import ofdft as ks_data
from pyscf_ml.ofdft.learned import KineticNetFunctional
from pyscf_ml.ofdft.solver import OFDFT
from pyscf_ml.train.progress import Progress, load_checkpoint, save_checkpoint

DEFAULT_MOLECULES = 'LiH'    # what ``--molecules`` draws when not given


def _even_tempered(lo, hi, n):
    return list(np.logspace(np.log10(lo), np.log10(hi), n))


def inversion_basis(element):
    '''Even-tempered s, p, d Gaussians for the inverted potential; tighter on heavier atoms.'''
    tight = 30.0 if gto.charge(element) <= 2 else 300.0
    return ([[0, [e, 1.0]] for e in _even_tempered(0.03, tight, 10 if tight < 100 else 14)]
            + [[1, [e, 1.0]] for e in _even_tempered(0.05, 20.0, 6)]
            + [[2, [e, 1.0]] for e in _even_tempered(0.1, 5.0, 3)])


class _OFDFTInPotential(OFDFT):
    '''OFDFT with an extra one-electron potential (AO matrix ``v_ext``), as the KS data has;
    its energy is counted in ``scf_summary['nuclear']``.'''
    _keys = {'v_ext'}

    def __init__(self, mol, v_ext, **kwargs):
        super().__init__(mol, **kwargs)
        self.v_ext = v_ext

    def build(self):
        super().build()
        self._vnuc = self._vnuc + self.v_ext
        return self


def wu_yang(mol, dm_target, h_guide, pot_ints, lam=1e-6, min_gap=0.01, max_iter=3000):
    '''Maximise W(b) (see module docstring); of the iterates whose HOMO-LUMO gap is at least
    ``min_gap``, return the one with the smallest |dW/db| as (b, D_b, orbital energies), or
    None when no iterate (b = 0 included) has that gap.'''
    ovlp = mol.intor_symmetric('int1e_ovlp')
    nocc = mol.nelectron // 2
    target = np.einsum('ijk,ji->k', pot_ints, dm_target)
    best = {'r': np.inf, 'b': None}

    def neg_w(b):
        e, c = scipy.linalg.eigh(h_guide + pot_ints @ b, ovlp)
        dm = 2 * c[:, :nocc] @ c[:, :nocc].T
        w = 2 * e[:nocc].sum() - b @ target - lam * b @ b
        grad = np.einsum('ijk,ji->k', pot_ints, dm) - target - 2 * lam * b
        # |dW/db| = the density residual seen by the potential basis
        if e[nocc] - e[nocc - 1] >= min_gap and grad @ grad < best['r']:
            best.update(r=grad @ grad, b=b.copy())
        return -w, -grad

    scipy.optimize.minimize(neg_w, np.zeros(pot_ints.shape[2]), jac=True, method='L-BFGS-B',
                            options={'maxiter': max_iter, 'gtol': 1e-9, 'ftol': 1e-15})
    if best['b'] is None:
        return None
    e, c = scipy.linalg.eigh(h_guide + pot_ints @ best['b'], ovlp)
    return best['b'], 2 * c[:, :nocc] @ c[:, :nocc].T, e


def path_samples(name, rng, args, kinetic):
    '''Labelled samples along KS -> OF-DFT minimum for one random system.'''
    sy = ks_data.ks_system(name, rng, args)
    mol, mf, h0, v_rand = sy['mol'], sy['mf'], sy['h0'], sy['v_rand']
    if not mf.converged:
        return [], 'KS SCF did not converge'
    of = _OFDFTInPotential(mol, v_rand, kinetic=kinetic, xc=args.xc)
    of.grids.level = args.grid_level
    of.kernel()
    dm_ks, dm_of = mf.make_rdm1(), of.make_rdm1()
    grids = ks_data.label_grids(mol, args.grid_level)
    pmol = gto.M(atom=mol._atom, unit='Bohr', verbose=0,
                 basis={e: inversion_basis(e) for e in mol.elements})
    pot_ints = incore.aux_e2(mol, pmol, intor='int3c1e')
    v_rand_grid = sy['v_rand_fn'](grids.coords)
    pot_on_grid = dft.numint.eval_ao(pmol, grids.coords)
    nocc = mol.nelectron // 2
    ni = dft.numint.NumInt()
    out, notes = [], []
    for t in args.mix:
        dm_t = (1 - t) * dm_ks + t * dm_of
        vxc = ni.nr_rks(mol, grids, args.xc, dm_t)[2]
        h_guide = h0 + v_rand + mf.get_j(mol, dm_t) + vxc
        found = wu_yang(mol, dm_t, h_guide, pot_ints, lam=args.lam, min_gap=args.min_gap)
        if found is None:
            notes.append(f't={t:g} degenerate')
            continue
        b, dm_b, eps = found
        gap = eps[nocc] - eps[nocc - 1]
        drho = grids.weights @ np.abs(ni.get_rho(mol, dm_b - dm_t, grids))
        notes.append(f't={t:g} gap={gap:.3g} int|drho|={drho:.3f}')
        v_b = pot_on_grid @ b
        v_s = ks_data.ks_potential_on_grid(mol, dm_t, args.xc, grids.coords,
                                           v_rand_grid + v_b)
        s = ks_data.labels(mol, dm_b, v_s, grids, args.rho_min, not args.no_gradient_labels)
        s.update(name=name, atom=sy['atom'], charge=sy['charge'], sigma=sy['sigma'],
                 mix=float(t), inversion_drho=float(drho), of_converged=bool(of.converged),
                 e_of=float(of.e_tot), e_ks=float(mf.e_tot))
        out.append(s)
    return out, '; '.join(notes)


def main(argv=None):
    p = argparse.ArgumentParser(prog='python -m pyscf_ml.data ofdft-path', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    ks_data.add_system_arguments(p, DEFAULT_MOLECULES, n_per_mol=40, seed=3, rho_min=1e-8)
    p.add_argument('--weights', help='KineticNet weights whose OF-DFT minima are labelled '
                   '(default: the shipped ones)')
    p.add_argument('--mix', default='0.1,0.25,0.5,1',
                   help='fractions t of the way from the KS density to the OF-DFT minimum')
    p.add_argument('--lam', type=float, default=1e-6, help='Wu-Yang regularisation')
    p.add_argument('--min-gap', type=float, default=0.01, help='smallest HOMO-LUMO gap (Ha) '
                   'of a kept inversion iterate')
    args = p.parse_args(argv)
    args.mix = [float(x) for x in args.mix.split(',')]
    lib.num_threads(1)
    kinetic = KineticNetFunctional(weights=args.weights)
    jobs = ks_data.system_jobs(args)
    partial = args.out + '.partial'
    state = load_checkpoint(partial) or {'samples': [], 'done': 0, 'dropped': 0}
    prog = Progress(len(jobs), args.out + '.log', every=1)
    for j in range(state['done'], len(jobs)):
        name, i, seed = jobs[j]
        samples, note = path_samples(name, np.random.default_rng(seed), args, kinetic)
        state['samples'].extend(samples)
        state['dropped'] += len(args.mix) - len(samples)
        state['done'] = j + 1
        save_checkpoint(partial, **state)
        with open(args.out + '.log', 'a') as f:
            f.write(f'{name} #{i}: {note}\n')
        prog.update(j + 1, mol=name, kept=len(state['samples']), dropped=state['dropped'])
    save_checkpoint(args.out, samples=state['samples'], args=vars(args),
                    command='python -m pyscf_ml.data ofdft-path ' +
                    ' '.join(sys.argv[1:] if argv is None else argv))
    if os.path.exists(partial):
        os.remove(partial)
    prog.close()
    print(f'wrote {len(state["samples"])} samples to {args.out} '
          f'({state["dropped"]} inverted densities dropped)')
    return 0
