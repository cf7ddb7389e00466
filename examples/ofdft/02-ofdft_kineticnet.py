#!/usr/bin/env python
'''
Orbital-free DFT with the learned kinetic functional (KineticNet-style).

T_s = T_vW + a non-negative Pauli term from an e3nn network on the quadrature grid, trained
on RKS-LDA densities of H2, HeH+, H3+, LiH and the H4 chain under random external potentials,
then on KS states along the OF-DFT collapse of LiH and H4 (elements H, He, Li; basis
unc-cc-pvdz; grid level 2).  OF-DFT is started from a superposition of atomic densities and
compared with Kohn-Sham.  For two-electron systems the learned Pauli term must vanish; see
benchmarks/results/ofdft.md for molecules with more electrons (the H4 chain within about
5 kcal/mol of KS, LiH still collapsing by about 170 kcal/mol).
'''
from pyscf import dft, gto

from pyscf_ml.ofdft import OFDFT

mol = gto.M(atom='He 0 0 0; H 0 0 0.774', charge=1, basis='unc-cc-pvdz', verbose=0)
ks = dft.RKS(mol, xc='lda,vwn')
ks.grids.level = 2
e_ks = ks.kernel()

for kinetic in ('tf+1/9vw', 'kineticnet'):
    of = OFDFT(mol, kinetic=kinetic, xc='lda,vwn')
    of.grids.level = 2              # the grid the model was trained on
    e = of.kernel()
    print(f'HeH+ {kinetic:>10s}: E = {e:.6f} Ha, E - E_KS = {(e - e_ks) * 627.5095:8.2f} '
          f'kcal/mol, converged = {of.converged}')
print('learned Pauli term at the optimum:', of.scf_summary['kinetic_grid'], 'Ha')
