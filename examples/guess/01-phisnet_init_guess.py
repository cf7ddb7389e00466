#!/usr/bin/env python
'''
A learned Hamiltonian as the SCF initial guess.

``import pyscf_ml.guess`` adds the key ``'phisnet'`` to ``mf.init_guess``: an SE(3)-equivariant
network predicts the PBE/def2-SVP Fock matrix from the geometry alone; the guess density is built
from it with the object's own eig/get_occ/make_rdm1 (projected when the basis is not def2-SVP).
'phisnet' uses the transferable H/C/N/O model, 'phisnet:<name>' a per-molecule one.
The prediction itself is available too (pyscf_ml.guess.orbitals).
'''
import time

from pyscf import dft, gto

import pyscf_ml.guess

mol = gto.M(atom='''
O   0.0000   0.0000   0.1173
H   0.0000   0.7572  -0.4692
H   0.0000  -0.7572  -0.4692''', basis='def2-svp', verbose=0)

pyscf_ml.guess.load_model('water')       # load once; later guesses reuse it
for key in ('minao', 'atom', 'phisnet', 'phisnet:water'):
    mf = dft.RKS(mol, xc='pbe')
    mf.init_guess = key
    t0 = time.perf_counter()
    e = mf.kernel()
    print(f'{key:16s} E = {e:.10f}  cycles = {mf.cycles:2d}  '
          f'wall = {time.perf_counter() - t0:.1f} s')

# The prediction itself: Fock matrix, orbital energies/coefficients, density (any basis)
res = pyscf_ml.guess.orbitals(mol, model='water')
nocc = mol.nelectron // 2
print('predicted HOMO/LUMO (Ha):', res['mo_energy'][nocc - 1], res['mo_energy'][nocc])

# Another basis: the def2-SVP prediction is projected onto cc-pVDZ
mf = dft.UKS(mol.copy().build(basis='cc-pvdz'), xc='pbe')
mf.init_guess = 'phisnet:water'
mf.kernel()
print(f'UKS/cc-pVDZ from the projected guess: cycles = {mf.cycles}')

# Molecules the model cannot serve fall back to MINAO with a warning
mol_f = gto.M(atom='F 0 0 0; H 0 0 0.92', basis='def2-svp', verbose=2)
mf = dft.RKS(mol_f, xc='pbe')
mf.init_guess = 'phisnet'
mf.kernel()
