'''Conformers and converged PBE/def2-SVP Fock matrices for the Hamiltonian model.

``python -m pyscf_ml.data phisnet --molecule ethanol --n-conf 100 --n-test 20 \
--out runs/data/ethanol.pt``

Geometries need no download: each molecule starts from a built-in structure, or for
``g2:<name>`` from the G2/97 geometry that ``ase`` ships, which is relaxed at
HF/3-21G, then conformers are drawn by classical normal-mode sampling (HF/3-21G Hessian) at
``--temperature`` kelvin, as MD17 samples a 500 K trajectory.  Each conformer gets a tightly
converged (``conv_tol`` 1e-10) PBE/def2-SVP Fock matrix in PySCF's AO order.  Splits
(train/val/test) are fixed here, at generation time, so that held-out conformers never reach
training or model selection; ``--held-out`` puts every conformer of the listed molecules in the
test split (held-out molecules of the transferable model); the validation molecules of
``g2-hcno-val`` must have all their conformers in the val split (``--n-val`` = ``--n-conf``).
Each molecule's conformers come from the stream ``(--seed, its position in --molecule)``, so a
file is reproduced by its exact command, set order included.  The output file is rewritten
after a molecule's last conformer and, within a molecule, when ``SAVE_EVERY_S`` seconds have
passed since the last write (not after every sample: each write is the whole file), and when
an exception (an unconverged SCF, Ctrl-C) stops the run; a rerun with the same arguments
continues where it stopped.
'''
import argparse
import os
import sys
import time

import numpy as np
import scipy.optimize
import torch
from pyscf import dft, gto, lib, scf
from pyscf.data import nist

from pyscf_ml.train.progress import Progress, load_checkpoint, save_checkpoint

# Rough starting structures (Angstrom); relaxed at HF/3-21G before sampling.
GEOMETRIES = {
    'water': 'O 0 0 0.1173; H 0 0.7572 -0.4692; H 0 -0.7572 -0.4692',
    'ethanol': '''C 1.1879 -0.3829 0; C 0 0.5526 0; O -1.1867 -0.2472 0; H -1.9237 0.3850 0;
                  H 0.0596 1.2163 0.8755; H 0.0596 1.2163 -0.8755; H 2.1305 0.1745 0;
                  H 1.1499 -1.0250 0.8803; H 1.1499 -1.0250 -0.8803''',
    # enol form with the intramolecular hydrogen bond
    'malondialdehyde': '''C -1.23 0.50 0; C 0 1.20 0; C 1.21 0.52 0; O -1.25 -0.74 0;
                          O 1.25 -0.78 0; H 0.28 -0.98 0; H 0 2.28 0; H -2.20 1.02 0;
                          H 2.18 1.05 0''',
    'uracil': '''N -1.204 0.695 0; C -1.204 -0.695 0; N 0 -1.39 0; C 1.204 -0.695 0;
                 C 1.204 0.695 0; C 0 1.39 0; O -2.260 -1.305 0; O 2.260 -1.305 0;
                 H -2.078 1.200 0; H 0 -2.40 0; H 2.139 1.235 0; H 0 2.47 0''',
    'h2': 'H 0 0 0; H 0 0 0.74',
    'methane': '''C 0 0 0; H 0.629 0.629 0.629; H -0.629 -0.629 0.629; H -0.629 0.629 -0.629;
                  H 0.629 -0.629 -0.629''',
    'ammonia': 'N 0 0 0.1; H 0 0.94 -0.27; H 0.814 -0.47 -0.27; H -0.814 -0.47 -0.27',
    'hcn': 'H 0 0 -1.066; C 0 0 0; N 0 0 1.156',
    'co': 'C 0 0 0; O 0 0 1.128',
    'n2': 'N 0 0 0; N 0 0 1.098',
    'co2': 'O 0 0 -1.16; C 0 0 0; O 0 0 1.16',
    'formaldehyde': 'C 0 0 0; O 0 0 1.205; H 0 0.94 -0.59; H 0 -0.94 -0.59',
    'methanol': '''C 0 0 0; O 1.43 0 0; H 1.75 0.905 0; H -0.36 -1.03 0; H -0.36 0.51 0.89;
                   H -0.36 0.51 -0.89''',
    'acetylene': 'H 0 0 -1.663; C 0 0 -0.603; C 0 0 0.603; H 0 0 1.663',
    'ethylene': '''C 0 0 0.667; C 0 0 -0.667; H 0 0.923 1.238; H 0 -0.923 1.238;
                   H 0 0.923 -1.238; H 0 -0.923 -1.238''',
    'ethane': '''C 0 0 0.765; C 0 0 -0.765; H 1.02 0 1.16; H -0.51 0.883 1.16;
                 H -0.51 -0.883 1.16; H -1.02 0 -1.16; H 0.51 0.883 -1.16; H 0.51 -0.883 -1.16''',
    'formic_acid': 'C 0 0 0; O 0.60 1.04 0; O 0.675 -1.17 0; H -1.09 0 0; H 1.64 -1.05 0',
    'hydrogen_peroxide': 'O 0 0.74 0; O 0 -0.74 0; H 0.84 0.95 0.42; H -0.84 -0.95 0.42',
    'hydrazine': '''N 0 0.72 0; N 0 -0.72 0; H 0.95 1.0 0.2; H -0.3 1.0 0.93;
                    H -0.95 -1.0 0.2; H 0.3 -1.0 0.93''',
    'methanimine': 'C 0 0 0; N 1.27 0 0; H 1.62 0.95 0; H -0.55 0.94 0; H -0.55 -0.94 0',
    'hydroxylamine': 'N 0 0 0; O 1.45 0 0; H 1.77 0.905 0; H -0.33 -0.47 0.83; H -0.33 -0.47 -0.83',
    'acetonitrile': '''C 0 0 0; C 1.46 0 0; N 2.62 0 0; H -0.36 1.03 0; H -0.36 -0.51 0.89;
                       H -0.36 -0.51 -0.89''',
    'methylamine': '''C 0 0 0; N 1.47 0 0; H 1.81 -0.47 0.83; H 1.81 -0.47 -0.83;
                      H -0.36 0.51 0.89; H -0.36 0.51 -0.89; H -0.36 -1.03 0''',
    'acetaldehyde': '''C 0 0 0; C 1.50 0 0; O 2.10 1.04 0; H 2.05 -0.95 0; H -0.36 1.03 0;
                       H -0.36 -0.51 0.89; H -0.36 -0.51 -0.89''',
    'formamide': '''C 0 0 0; O 0.60 1.04 0; N 0.68 -1.18 0; H -1.10 0 0; H 1.69 -1.18 0;
                    H 0.18 -2.05 0''',
}
G2_PREFIX = 'g2:'
ASE_PREFIX = 'ase:'
# Named sets for the transferable model: small H/C/N/O molecules, molecules held out (test),
# G2/97 molecules for training, and whole molecules for validation.
SETS = {
    'small-hcno': ['h2', 'methane', 'ammonia', 'water', 'hcn', 'co', 'n2', 'co2', 'formaldehyde',
                   'methanol', 'acetylene', 'ethylene', 'ethane', 'formic_acid',
                   'hydrogen_peroxide', 'hydrazine', 'methanimine', 'hydroxylamine',
                   'acetonitrile'],
    'heldout-hcno': ['methylamine', 'acetaldehyde', 'formamide'],
    # More chemistry for the transferable model: the closed-shell H/C/N/O molecules of G2/97
    # (geometries from ase, ``pip install -e '.[g2]'``) that are not above.  Left out: the
    # held-out H3CNH2 and CH3CHO, ethanol (its own model's test set), singlet CH2 and O3
    # (multireference), and the validation molecules below.
    'g2-hcno': [G2_PREFIX + n for n in (
        'N2O', 'C3H4_C3v', 'C3H4_D2d', 'C3H4_C2v', 'C3H6_Cs', 'C3H6_D3h', 'C3H8', 'butadiene',
        '2-butyne', 'methylenecyclopropane', 'bicyclobutane', 'cyclobutene', 'cyclobutane',
        'isobutene', 'trans-butane', 'isobutane', 'C5H8', 'C6H6', 'CH3NO2', 'CH3ONO',
        'HCOOCH3', 'CH3CONH2', 'CH2NHCH2', 'NCCN', 'CH3CH2NH2', 'H2CCO', 'CH2OCH2', 'OCHCHO',
        'H2CCHCN', 'CH3COOH', 'C2H6CHOH', 'CH3CH2OCH3', 'C3H9N', 'C4H4NH', 'C5H5N')],
    # Whole molecules for model selection (an amine, a ketone, an ether, an aromatic ring),
    # never trained on: the transferable model is chosen for molecules it has not seen.
    'g2-hcno-val': [G2_PREFIX + n for n in ('C2H6NH', 'CH3COCH3', 'CH3OCH3', 'C4H4O')],
    # Larger rings and amides/amines than G2/97 has, for the transferable model: S22 monomers
    # and two of ase's extra molecules (``pyscf_ml.data.ase_extra``, needs ase).
    'ase-hcno': [ASE_PREFIX + n for n in (
        '2-pyridoxine', '2-aminopyridine', 'adenine', 'thymine', 'pyrazine', 'indole', 'phenol',
        'benzonitrile', 'p-phenylenediamine')],
}
BASIS = 'def2-svp'
SAVE_EVERY_S = 60.0    # a killed run loses about this much work, plus one sample
XC = 'pbe'


def relax(mol, gtol=3e-4, maxiter=60, label='molecule'):
    '''Cheap HF/3-21G relaxation with scipy's L-BFGS (no geometry optimiser is a dependency).'''
    mol = mol.copy()
    mol.basis = '3-21g'
    mol.build()
    mf = scf.RHF(mol)
    mf.verbose = 0
    grad = mf.nuc_grad_method().as_scanner()

    def fun(x):
        e, g = grad(mol.set_geom_(x.reshape(-1, 3), unit='Bohr', inplace=False))
        return e, g.ravel()

    res = scipy.optimize.minimize(fun, mol.atom_coords().ravel(), jac=True, method='L-BFGS-B',
                                  options=dict(gtol=gtol, maxiter=maxiter))
    if not res.success:
        # still usable: conformers are drawn around it, soft/imaginary modes are clamped
        print(f'warning: HF/3-21G relaxation of {label} ({mol.natm} atoms) '
              f'stopped after {res.nit} steps, max |gradient| {abs(res.jac).max():.1e}: '
              f'{res.message}', file=sys.stderr)
    return res.x.reshape(-1, 3)


def normal_modes(mol, coords, label='molecule'):
    '''Mass-weighted HF/3-21G normal modes (internal ones only) at ``coords`` (Bohr).'''
    m = mol.copy()
    m.basis = '3-21g'
    m.build()
    m = m.set_geom_(coords, unit='Bohr', inplace=False)
    mf = scf.RHF(m).run(verbose=0, conv_tol=1e-10)
    if not mf.converged:
        # only the sampling widths depend on it, so the run goes on, but not silently
        print(f'warning: HF/3-21G SCF for the normal modes of {label} ({m.natm} atoms) did not '
              'converge (conv_tol 1e-10); the sampled modes may be off', file=sys.stderr)
    hess = mf.Hessian().kernel()                       # (natm, natm, 3, 3) Hartree/Bohr^2
    natm = m.natm
    mass = m.atom_mass_list(isotope_avg=True) * nist.AMU2AU
    h = hess.transpose(0, 2, 1, 3).reshape(3 * natm, 3 * natm)
    msq = np.repeat(mass ** -.5, 3)
    w2, modes = np.linalg.eigh(h * msq[:, None] * msq[None, :])
    nrt = 5 if natm == 2 or _is_linear(coords) else 6
    keep = np.argsort(np.abs(w2))[nrt:]                 # drop translations and rotations
    return w2[keep], modes[:, keep], msq


def _is_linear(coords):
    if len(coords) < 3:
        return True
    x = coords - coords.mean(0)
    return np.linalg.svd(x, compute_uv=False)[1] < 1e-3


def sample_conformers(coords, w2, modes, msq, n, temperature, rng):
    '''Classical harmonic sampling: q_k ~ N(0, kT / w_k^2) along each mass-weighted mode.'''
    kt = temperature * nist.BOLTZMANN / nist.HARTREE2J
    # soft modes (and imaginary ones at an imperfect minimum) are clamped at 200 cm^-1
    wmin = (200 / nist.HARTREE2WAVENUMBER) ** 2
    sigma = np.sqrt(kt / np.maximum(np.abs(w2), wmin))
    q = rng.standard_normal((n, len(w2))) * sigma
    disp = (q @ modes.T) * msq                           # back to Cartesian, Bohr
    return coords[None] + disp.reshape(n, -1, 3)


def sample_mol(sample):
    '''The molecule of a stored sample (Z, positions in Bohr) in the label basis.'''
    atoms = list(zip(np.asarray(sample['Z']).tolist(), np.asarray(sample['pos']).tolist()))
    return gto.M(atom=atoms, unit='Bohr', basis=BASIS, verbose=0)


def fock_label(mol, dm0=None, conv_tol=1e-10):
    '''Converged PBE/def2-SVP Fock matrix (PySCF AO order) and the converged density.'''
    mf = dft.RKS(mol, xc=XC)
    mf.conv_tol = conv_tol
    mf.verbose = 0
    mf.kernel(dm0=dm0)
    if not mf.converged:
        return None
    dm = mf.make_rdm1()
    fock = mf.get_fock(dm=dm)
    nocc = mol.nelectron // 2
    return dict(fock=fock, e_tot=mf.e_tot, mo_energy=mf.mo_energy, nocc=nocc), dm


def build_parser():
    p = argparse.ArgumentParser(prog='python -m pyscf_ml.data phisnet', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--molecule', required=True,
                   help='comma-separated names or a set (%s); names: %s, or g2:<name> '
                   'for a closed-shell H/C/N/O molecule of G2/97, or ase:<name> for the '
                   'S22 monomers and extra molecules of pyscf_ml.data.ase_extra (both need ase)'
                   % (', '.join(SETS), ', '.join(sorted(GEOMETRIES))))
    p.add_argument('--n-conf', type=int, default=100, help='conformers per molecule')
    p.add_argument('--n-val', type=int, default=0, help='of which validation (model selection)')
    p.add_argument('--n-test', type=int, default=0, help='of which held-out test conformers')
    p.add_argument('--held-out', action='store_true', help='all conformers go to the test split')
    p.add_argument('--temperature', type=float, default=500.)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', required=True, help='output .pt file (resumed if it exists)')
    p.add_argument('--log', default=None, help='progress log (default: OUT with .log)')
    return p


def geometry(name):
    '''Starting structure (Angstrom) of a built-in molecule, of ``g2:<ase G2/97 name>`` or of
    ``ase:<name>`` (``pyscf_ml.data.ase_extra.NAMES``).
    Raises ValueError for an unknown or unsupported name.'''
    if name.startswith(ASE_PREFIX):
        from pyscf_ml.data import ase_extra
        return ase_extra.atom_string(name[len(ASE_PREFIX):])
    if not name.startswith(G2_PREFIX):
        if name not in GEOMETRIES:
            raise ValueError(f'unknown molecule {name!r}; known: {sorted(GEOMETRIES)} and '
                             f'{G2_PREFIX}<name> for closed-shell H/C/N/O molecules of G2/97')
        return GEOMETRIES[name]
    from pyscf_ml.data import g2
    g2name = name[len(G2_PREFIX):]
    if g2name not in g2.molecule_names('all'):
        raise ValueError(f'{name}: not a molecule of G2/97 (ase names, e.g. {G2_PREFIX}C3H8)')
    if g2.spin(g2name) != 0 or not set(g2.composition(g2name)) <= {'H', 'C', 'N', 'O'}:
        raise ValueError(f'{name}: only closed-shell H/C/N/O molecules are supported')
    return g2.atom_string(g2name)


def _names(spec):
    names = []
    for tok in spec.split(','):
        names.extend(SETS.get(tok.strip(), [tok.strip()]))
    return names


def main(argv=None):
    args = build_parser().parse_args(argv)
    lib.num_threads(int(os.environ.get('OMP_NUM_THREADS', '1')))
    torch.set_num_threads(1)
    names = _names(args.molecule)
    try:
        geometries = {n: geometry(n) for n in names}
    except ValueError as e:
        raise SystemExit(str(e)) from None
    val_only = [n for n in names if n in SETS['g2-hcno-val']]
    if val_only and (args.held_out or args.n_val != args.n_conf or args.n_test):
        # they select the transferable model: a conformer of theirs in train or test leaks
        raise SystemExit(f'{val_only} are validation molecules: generate them on their own '
                         f'with --n-val equal to --n-conf and no --n-test')
    settings = dict(vars(args), log=None, out=None)
    state = load_checkpoint(args.out) or dict(settings=settings, samples=[], plan={})
    if state['settings'] != settings:
        raise SystemExit(f'{args.out} was made with different settings; use another --out')
    total = len(names) * args.n_conf
    progress = Progress(total, args.log or os.path.splitext(args.out)[0] + '.log', every=1)
    t_start = last_save = time.perf_counter()
    try:
        for k, name in enumerate(names):
            done = [s for s in state['samples'] if s['name'] == name]
            if len(done) >= args.n_conf:
                continue
            if name not in state['plan']:
                # one conformer stream per molecule, independent of the others and of restarts
                mol0 = gto.M(atom=geometries[name], basis=BASIS, verbose=0)
                coords = relax(mol0, label=name)
                w2, modes, msq = normal_modes(mol0, coords, label=name)
                rng = np.random.default_rng([args.seed, k])
                conf = sample_conformers(coords, w2, modes, msq, args.n_conf,
                                         args.temperature, rng)
                split = np.array(['train'] * args.n_conf, dtype=object)
                if args.held_out:
                    split[:] = 'test'
                else:
                    order = rng.permutation(args.n_conf)
                    split[order[:args.n_test]] = 'test'
                    split[order[args.n_test:args.n_test + args.n_val]] = 'val'
                state['plan'][name] = dict(Z=[int(z) for z in mol0.atom_charges()],
                                           equilibrium=coords, conformers=conf, split=list(split))
            plan = state['plan'][name]
            dm = None
            for i in range(len(done), args.n_conf):
                pos = plan['conformers'][i]
                mol = gto.M(atom=list(zip(plan['Z'], pos.tolist())), unit='Bohr', basis=BASIS,
                            verbose=0)
                out = fock_label(mol, dm0=dm)
                if out is None:   # an unconverged label is worse than none: retry from scratch
                    out = fock_label(mol)
                if out is None:
                    raise RuntimeError(f'{name} conformer {i}: SCF did not converge')
                label, dm = out
                state['samples'].append(dict(name=name, index=i, Z=np.array(plan['Z']), pos=pos,
                                             split=plan['split'][i], **label))
                # the whole file is rewritten, so not after every sample (quadratic in the set)
                if time.perf_counter() - last_save > SAVE_EVERY_S or i == args.n_conf - 1:
                    save_checkpoint(args.out, **state)
                    last_save = time.perf_counter()
                progress.update(len(state['samples']), molecule=name, conf=i,
                                split=plan['split'][i])
    except BaseException:
        # whatever stops the run (an unconverged SCF, Ctrl-C), the finished samples are kept
        save_checkpoint(args.out, **state)
        raise
    progress.close()
    print(f'{args.out}: {len(state["samples"])} samples '
          f'({time.perf_counter() - t_start:.0f} s this run)', file=sys.stderr)
    return 0
