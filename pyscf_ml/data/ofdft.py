'''KS reference data for the learned kinetic functional (``python -m pyscf_ml.data ofdft``).

Each sample is a closed-shell RKS ground state of a small molecule with a random external
potential added to the core Hamiltonian, V = sum_k c_k (mu nu k) (three-centre overlaps with
atom-centred Gaussians, c_k ~ N(0, sigma^2)), so that the densities cover what a density
optimisation meets.  Stored on the quadrature grid (points with rho < --rho-min dropped):

* ``T_s`` = Tr(T D) from the KS orbitals, ``T_vw`` on the grid, ``T_pauli = T_s - T_vw``;
* projected functional derivative of the Pauli term, ``dpauli[k] = int (dT_s/drho -
  dT_vW/drho) rho (f_k - n_k/N)`` with dT_s/drho = mu - v_s, f_k atom-centred s/p Gaussians
  scaled to max 1 (``proj``) and n_k = int rho f_k (``proj_norm``): perturbations that keep N,
  so mu drops out.  Pointwise derivative labels are unreliable near nuclei and in the
  Gaussian tails; these density-weighted projections are not;
* ``grad_rho_sq`` = |grad rho|^2 and ``proj_grad`` = grad rho . grad f_k, for Pauli models
  that read the density gradient (their projected derivative has a term in grad f_k); they
  make the files about 1.75x larger (``proj_grad`` is as large as ``proj``);
  ``--no-gradient-labels`` leaves them out (data for density-only models; everything else in
  the file is unchanged).  The sample's ``sigma`` is the strength of its random potential.

Example::

    python -m pyscf_ml.data ofdft --molecules H2,HeH+,H3+,LiH --n-per-mol 80 --seed 0 \\
        --out runs/ofdft_data/train.pt
'''
import argparse
import os
import sys

import numpy as np
import torch
from pyscf import dft, gto, lib
from pyscf.df import incore

from pyscf_ml.train.progress import Progress, load_checkpoint, save_checkpoint

# atom-centred s/p Gaussians: random potentials and derivative projections (exponents, bohr^-2)
POT_BASIS = [[0, [0.1, 1.0]], [0, [0.3, 1.0]], [0, [1.0, 1.0]], [1, [0.3, 1.0]]]
PROJ_BASIS = [[0, [0.2, 1.0]], [0, [0.6, 1.0]], [0, [1.8, 1.0]], [0, [5.4, 1.0]],
              [1, [0.4, 1.0]], [1, [1.6, 1.0]]]
DEFAULT_MOLECULES = 'H2,HeH+,H3+,LiH'    # what ``--molecules`` draws when not given


def _geometry(name, rng):
    '''Random geometry (Angstrom) and charge for a template molecule.'''
    if name == 'H2':
        return f'H 0 0 0; H 0 0 {rng.uniform(0.6, 1.0)}', 0
    if name == 'HeH+':
        return f'He 0 0 0; H 0 0 {rng.uniform(0.65, 1.1)}', 1
    if name == 'H3+':
        side = 0.87
        pts = np.array([[0, 0, 0], [side, 0, 0], [side / 2, side * np.sqrt(3) / 2, 0]])
        pts = pts + rng.normal(0, 0.08, pts.shape)
        return '; '.join('H %.6f %.6f %.6f' % tuple(p) for p in pts), 1
    if name == 'LiH':
        return f'Li 0 0 0; H 0 0 {rng.uniform(1.35, 1.9)}', 0
    if name == 'H4':
        d = rng.uniform(0.8, 1.1, 3)
        z = np.concatenate([[0], np.cumsum(d)])
        return '; '.join(f'H 0 0 {x:.6f}' for x in z), 0
    if name == 'He':
        return 'He 0 0 0', 0
    raise ValueError(f'unknown molecule template {name!r}; known: H2, HeH+, H3+, LiH, H4, He')


def _atom_basis_mol(mol, basis):
    return gto.M(atom=mol._atom, unit='Bohr', basis={e: basis for e in mol.elements},
                 charge=0, spin=None, verbose=0)


def random_potential(mol, rng, sigma):
    '''(V matrix, potential on a grid as a function) for a random Gaussian potential.'''
    pmol = _atom_basis_mol(mol, POT_BASIS)
    c = rng.normal(0, sigma, pmol.nao)
    v = np.einsum('ijk,k->ij', incore.aux_e2(mol, pmol, intor='int3c1e'), c)
    return v, (lambda coords: dft.numint.eval_ao(pmol, coords) @ c)


def ks_potential_on_grid(mol, dm, xc, coords, v_ext):
    '''v_nuc + v_ext + v_H[dm] + v_xc[dm] at ``coords``; ``v_ext`` is an array there.'''
    vnuc = np.zeros(len(coords))
    for z, rc in zip(mol.atom_charges(), mol.atom_coords()):
        vnuc -= z / np.linalg.norm(coords - rc, axis=1)
    ni = dft.numint.NumInt()
    rho = ni.eval_rho(mol, ni.eval_ao(mol, coords), dm, xctype='LDA')
    vxc = ni.eval_xc_eff(xc, rho, deriv=1, xctype='LDA')[1][0]
    vh = np.empty(len(coords))
    for p0 in range(0, len(coords), 2000):
        vh[p0:p0 + 2000] = np.einsum('gij,ij->g', mol.intor('int1e_grids',
                                                             grids=coords[p0:p0 + 2000]), dm)
    return vnuc + v_ext + vxc + vh


def labels(mol, dm, v_s, grids, rho_min, gradient_labels=True):
    '''Grid data and labels for density matrix ``dm``, the non-interacting ground state of
    T + v_s (``v_s`` on ``grids``), i.e. a converged KS density with its KS potential.
    ``gradient_labels=False`` leaves out ``grad_rho_sq`` and ``proj_grad``.'''
    nelec = mol.nelectron
    coords, w = grids.coords, grids.weights
    ni = dft.numint.NumInt()
    ao = ni.eval_ao(mol, coords, deriv=1)
    rho = ni.eval_rho(mol, ao, dm, xctype='GGA')
    t_s = np.einsum('ij,ji->', mol.intor_symmetric('int1e_kin'), dm)
    r = np.maximum(rho[0], 1e-30)
    sigma = np.einsum('xg,xg->g', rho[1:4], rho[1:4])
    t_vw = np.dot(w, sigma / (8 * r))

    # test perturbations rho * (f_k - n_k/N): weighted by rho, so the Gaussian-basis tails
    # (where v_vW grows like r^2 and the KS Euler equation fails) do not enter
    pmol = _atom_basis_mol(mol, PROJ_BASIS)
    fk = ni.eval_ao(pmol, coords, deriv=1)                   # (4, ng, nk)
    fk /= np.abs(fk[0]).max(axis=0)                           # O(1) test functions
    nk = (w * rho[0]) @ fk[0]
    f0 = fk[0] - nk / nelec                                    # (ng, nk)
    int_vs = (w * v_s * rho[0]) @ f0
    # weak form: int v_vW rho (f - n/N) = int |grad rho|^2/(8 rho) (f - n/N) + grad rho.grad f / 4
    int_vw = (w * sigma / (8 * r)) @ f0 + np.einsum('g,xg,xgk->k', w / 4, rho[1:4], fk[1:4])
    d_pauli = -int_vs - int_vw
    keep = rho[0] > rho_min
    sample = {
        'z': torch.tensor(mol.atom_charges(), dtype=torch.long),
        'pos': torch.tensor(mol.atom_coords(), dtype=torch.float64),
        'coords': torch.tensor(coords[keep], dtype=torch.float64),
        'weights': torch.tensor(w[keep], dtype=torch.float64),
        'rho': torch.tensor(rho[0][keep], dtype=torch.float64),
        'proj': torch.tensor(fk[0][keep], dtype=torch.float32),
        'proj_norm': torch.tensor(nk, dtype=torch.float64),
        'nelec': nelec,
        'T_s': float(t_s), 'T_vw': float(t_vw), 'T_pauli': float(t_s - t_vw),
        'dpauli': torch.tensor(d_pauli, dtype=torch.float64),
        'dvw': torch.tensor(int_vw, dtype=torch.float64),
    }
    if gradient_labels:
        # for models that read |grad rho|^2 (= g): the test perturbation rho (f_k - n_k/N)
        # moves g by 2 (g (f_k - n_k/N) + rho grad rho . grad f_k)
        sample['grad_rho_sq'] = torch.tensor(sigma[keep], dtype=torch.float64)
        sample['proj_grad'] = torch.tensor(np.einsum('xg,xgk->gk', rho[1:4], fk[1:4])[keep],
                                           dtype=torch.float32)
    return sample


def ks_system(name, rng, args):
    '''One random system as the training data draw it (geometry, whether the random potential
    is on, its coefficients: in that order from ``rng``) and its converged RKS object.'''
    atom, charge = _geometry(name, rng)
    mol = gto.M(atom=atom, charge=charge, basis=args.basis, verbose=0)
    h0 = mol.intor_symmetric('int1e_kin') + mol.intor_symmetric('int1e_nuc')
    sigma = 0.0 if rng.uniform() < args.frac_unperturbed else args.sigma
    v_rand, v_rand_fn = random_potential(mol, rng, sigma)
    mf = dft.RKS(mol, xc=args.xc)
    mf.get_hcore = lambda *a: h0 + v_rand
    mf.conv_tol = 1e-10
    mf.kernel()
    return dict(atom=atom, charge=charge, mol=mol, h0=h0, sigma=sigma, v_rand=v_rand,
                v_rand_fn=v_rand_fn, mf=mf)


def label_grids(mol, level):
    grids = dft.gen_grid.Grids(mol)
    grids.level = level
    return grids.build(with_non0tab=False)


def one_sample(name, rng, args):
    sy = ks_system(name, rng, args)
    mol, mf = sy['mol'], sy['mf']
    if not mf.converged:
        return None
    grids = label_grids(mol, args.grid_level)
    dm = mf.make_rdm1()
    v_s = ks_potential_on_grid(mol, dm, args.xc, grids.coords, sy['v_rand_fn'](grids.coords))
    s = labels(mol, dm, v_s, grids, args.rho_min, not args.no_gradient_labels)
    s.update(name=name, atom=sy['atom'], charge=sy['charge'], sigma=sy['sigma'],
             e_tot=float(mf.e_tot))
    return s


def system_jobs(args):
    '''(molecule, index, seed) for every system to draw, with one random generator seed per
    (--seed, molecule, index): reproducible and resumable.  Unknown molecules fail here.'''
    names = [m.strip() for m in args.molecules.split(',') if m.strip()]
    for n in names:
        _geometry(n, np.random.default_rng(0))
    return [(n, i, [args.seed, k, i]) for i in range(args.n_per_mol)
            for k, n in enumerate(names)]


def add_system_arguments(p, molecules, n_per_mol, seed, rho_min):
    '''Command-line options shared by ``ofdft`` and ``ofdft-path``: what systems are drawn.'''
    p.add_argument('--molecules', default=molecules)
    p.add_argument('--n-per-mol', type=int, default=n_per_mol)
    p.add_argument('--seed', type=int, default=seed)
    p.add_argument('--basis', default='unc-cc-pvdz')
    p.add_argument('--xc', default='lda,vwn')
    p.add_argument('--sigma', type=float, default=0.1, help='std of potential coefficients (Ha)')
    p.add_argument('--frac-unperturbed', type=float, default=0.1)
    p.add_argument('--grid-level', type=int, default=2)
    p.add_argument('--rho-min', type=float, default=rho_min)
    p.add_argument('--no-gradient-labels', action='store_true',
                   help='leave out grad_rho_sq/proj_grad (only --gradient models need them; '
                   'files ~1.75x smaller)')
    p.add_argument('--out', required=True)


def main(argv=None):
    p = argparse.ArgumentParser(prog='python -m pyscf_ml.data ofdft', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_system_arguments(p, DEFAULT_MOLECULES, n_per_mol=80, seed=0, rho_min=1e-9)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    lib.num_threads(1)
    jobs = system_jobs(args)
    partial = args.out + '.partial'
    state = load_checkpoint(partial) or {'samples': [], 'done': 0, 'failed': 0}
    prog = Progress(len(jobs), args.out + '.log', every=10)
    for j in range(state['done'], len(jobs)):
        name, i, seed = jobs[j]
        s = one_sample(name, np.random.default_rng(seed), args)
        if s is None:
            state['failed'] += 1
        else:
            state['samples'].append(s)
        state['done'] = j + 1
        if (j + 1) % 20 == 0:
            save_checkpoint(partial, **state)
        prog.update(j + 1, mol=name, npts=0 if s is None else len(s['rho']),
                    failed=state['failed'])
    save_checkpoint(args.out, samples=state['samples'], args=vars(args),
                    command='python -m pyscf_ml.data ofdft ' +
                    ' '.join(sys.argv[1:] if argv is None else argv))
    if os.path.exists(partial):
        os.remove(partial)
    prog.close()
    print(f'wrote {len(state["samples"])} samples to {args.out} ({state["failed"]} failed SCF)')
    return 0
