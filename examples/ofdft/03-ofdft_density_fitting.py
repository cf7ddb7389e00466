#!/usr/bin/env python
'''
Orbital-free DFT for a longer molecule: density fitting of the Hartree term.

With ``density_fit = True`` the 3-index integrals are made once and kept only for atom pairs
whose AOs overlap, and J acts on the single vector psi; AO values on the grid are kept only
where they are non-zero.  An energy evaluation then costs O(n^2) in the number of atoms.  The
time is compared with RKS (PySCF density fitting) on the same grid; the OF energy itself is
TF+1/9vW, far from KS, as for any classical kinetic functional.
'''
import time

from pyscf import dft, gto

from pyscf_ml.ofdft import OFDFT

mol = gto.M(atom='; '.join(f'H 0 0 {0.9 * i:.3f}' for i in range(32)), basis='unc-cc-pvdz',
            verbose=0)

ks = dft.RKS(mol, xc='lda,vwn').density_fit()
ks.grids.level = 2
t0 = time.perf_counter()
ks.kernel()
t_ks = time.perf_counter() - t0

of = OFDFT(mol, kinetic='tf+1/9vw', xc='lda,vwn')
of.density_fit = True               # or an auxiliary basis name, e.g. 'def2-universal-jfit'
of.grids.level = 2
t0 = time.perf_counter()
of.kernel()
t_of = time.perf_counter() - t0
print(f'H32 chain, {mol.nao} AOs: RKS {ks.e_tot:.6f} Ha in {t_ks:.1f} s; '
      f'OF TF+1/9vW {of.e_tot:.6f} Ha in {t_of:.1f} s ({of.niter} iterations, '
      f'converged={of.converged})')
print('energy breakdown:', {k: round(v, 6) for k, v in of.scf_summary.items()})
