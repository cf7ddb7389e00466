'''Reference data for training nn-* functionals with the SCF in the loop: CCSD densities and
experimental G2 atomization energies.

For every molecule of a training set and each of its atoms: HF, then CCSD (UHF/UCCSD for open
shells, all electrons correlated), and the **unrelaxed** CCSD one-particle density matrix in the
AO basis, spin-resolved.  The experimental electronic atomization energy De of each molecule comes
from ``pyscf_ml.data.g2`` (ase's G2/97 tables).  Geometries and spins are G2/97's.

    python -m pyscf_ml.data xc-reference --set paper --out data/xc_reference_paper.npz
    python -m pyscf_ml.data xc-reference --set g2-1 --out data/xc_reference_g2-1.npz

Training sets (G2-2 molecules are never used: G2-2 is the test set):
- ``paper``: H2O, NH3, NO, the training set of Nagai, Akashi & Sugino (2020);
- ``g2-1``: twelve G2-1 molecules made of H, C, N, O, F covering single, double and triple
  bonds, radicals and a triplet: CH4 NH3 H2O HF C2H2 C2H4 HCN CO N2 NO O2 H2CO;
- ``g2-1-wide``: those twelve and twelve more, adding Li, Si, P, S and Cl and the bonds between
  electronegative atoms (F2, ClF, H2O2, SO): C2H6 CH3OH H2O2 F2 CO2 HCl SH2 PH3 SiH4 ClF SO LiF.
  The other 31 G2-1 molecules are left for model selection (``--held-out rest`` of the trainer).
- ``g2-1-3of4``: three quarters of G2-1 (41 molecules), so that training sees every kind of
  G2-1 chemistry (hydride radicals, Li/Na/Si/P/S/Cl compounds, bonds between heavier atoms)
  rather than the closed-shell-heavy ``g2-1-wide``.  The held-out quarter is every fourth G2-1
  molecule in the G2/97 order starting from the second (``G2_1_QUARTER``: BeH, CH3, NH3, SiH2
  singlet, PH2, Li2, C2H6, HCO, N2H4, F2, P2, SiO, ClF, HOCl), a rule fixed without looking at
  any error.

Each finished system is kept in ``<out>.parts/`` so that an interrupted run resumes; the result
is one compressed npz with ``<name>/dm`` (2, nao, nao) and a JSON ``meta`` entry.
'''
import argparse
import json
import os
import time

import numpy as np
from pyscf import cc, scf

from pyscf_ml.data import g2

TRAINING_SETS = {
    'paper': ['H2O', 'NH3', 'NO'],
    'g2-1': ['CH4', 'NH3', 'H2O', 'HF', 'C2H2', 'C2H4', 'HCN', 'CO', 'N2', 'NO', 'O2', 'H2CO'],
    'g2-1-wide': ['CH4', 'NH3', 'H2O', 'HF', 'C2H2', 'C2H4', 'HCN', 'CO', 'N2', 'NO', 'O2',
                  'H2CO', 'C2H6', 'CH3OH', 'H2O2', 'F2', 'CO2', 'HCl', 'SH2', 'PH3', 'SiH4',
                  'ClF', 'SO', 'LiF'],
}
# (every fourth G2-1 molecule, from the second: held out of ``g2-1-3of4``)
G2_1_QUARTER = g2.molecule_names('G2-1')[1::4]
TRAINING_SETS['g2-1-3of4'] = [m for m in g2.molecule_names('G2-1') if m not in G2_1_QUARTER]
DEFAULT_BASIS = 'def2-tzvp'


def systems_of(molecules):
    '''The molecules followed by the atoms they contain (each once).'''
    atoms = sorted({a for m in molecules for a in g2.composition(m)})
    return list(molecules) + atoms


def ccsd_density(name, basis, conv_tol=1e-10, verbose=0):
    '''Spin-resolved unrelaxed CCSD density matrix (2, nao, nao) in the AO basis, with the HF and
    CCSD total energies.'''
    mol = g2.mole(name, basis, verbose=verbose)
    mf = (scf.RHF if mol.spin == 0 else scf.UHF)(mol)
    mf.conv_tol = conv_tol
    mf.kernel()
    if not mf.converged:
        raise RuntimeError(f'{name}: HF did not converge; no reference density written')
    if mol.spin and mol.nao > mol.nelec[0]:   # (a minimal-basis H atom has no virtuals)
        # UHF of open-shell atoms can land on a saddle point; follow the internal instability
        mo = mf.stability()[0]
        if mo is not mf.mo_coeff:
            mf.kernel(mf.make_rdm1(mo, mf.mo_occ))
    if mol.nelectron == 1:   # HF is exact for one electron (and PySCF's UCCSD needs two)
        dm = np.asarray(mf.make_rdm1())
        return dm, float(mf.e_tot), float(mf.e_tot), mol
    mycc = cc.CCSD(mf)
    mycc.conv_tol = 1e-9
    mycc.kernel()
    if not mycc.converged:
        raise RuntimeError(f'{name}: CCSD did not converge; no reference density written')
    dm = mycc.make_rdm1(ao_repr=True)
    dm = np.stack([dm / 2, dm / 2]) if mol.spin == 0 else np.asarray(dm)
    return dm, float(mf.e_tot), float(mycc.e_tot), mol


def main(argv=None):
    p = argparse.ArgumentParser(prog='python -m pyscf_ml.data xc-reference', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--set', default='paper', choices=sorted(TRAINING_SETS),
                   help='training set (default paper)')
    p.add_argument('--molecules', help='comma list of G2-1 molecules instead of --set')
    p.add_argument('--basis', default=DEFAULT_BASIS)
    p.add_argument('--out', default=None, help='default data/xc_reference_<set>.npz')
    args = p.parse_args(argv)
    molecules = args.molecules.split(',') if args.molecules else TRAINING_SETS[args.set]
    for m in molecules:
        if g2.subset_of(m) != 'G2-1':
            raise SystemExit(f'{m} is a G2-2 molecule: G2-2 is the test set and is never used '
                             f'for training')
    out = args.out or f'data/xc_reference_{args.set}.npz'
    parts = out + '.parts'
    os.makedirs(parts, exist_ok=True)
    names = systems_of(molecules)
    t0 = time.perf_counter()
    info = {}
    for k, name in enumerate(names):
        part = os.path.join(parts, f'{name}_{args.basis}.npz')
        if not os.path.exists(part):
            dm, e_hf, e_cc, mol = ccsd_density(name, args.basis)
            np.savez(part + '.tmp.npz', dm=dm, e_hf=e_hf, e_ccsd=e_cc)
            os.replace(part + '.tmp.npz', part)
        z = np.load(part)
        info[name] = dict(e_hf=float(z['e_hf']), e_ccsd=float(z['e_ccsd']),
                          spin=g2.spin(name), atom=g2.atom_string(name),
                          kind='molecule' if name in molecules else 'atom')
        if name in molecules:
            info[name].update(de_exp=g2.atomization_energy(name),
                              composition=dict(g2.composition(name)))
        print(f'[{k + 1}/{len(names)}] {name}: E(CCSD) = {info[name]["e_ccsd"]:.8f}  '
              f'{time.perf_counter() - t0:.0f}s', flush=True)
    meta = dict(systems=names, molecules=molecules, basis=args.basis, method='CCSD unrelaxed 1-RDM',
                set=args.molecules or args.set, units='Hartree; de_exp kcal/mol', entries=info)
    arrays = {f'{n}/dm': np.load(os.path.join(parts, f'{n}_{args.basis}.npz'))['dm']
              for n in names}
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    np.savez_compressed(out, meta=json.dumps(meta), **arrays)
    print(f'wrote {out} ({len(names)} systems)')


if __name__ == '__main__':
    main()
