#!/usr/bin/env python
'''
Orbital-free DFT with classical kinetic functionals.

The density is rho = N psi^2 with psi expanded in the AO basis.  With the von Weizsaecker
functional OF-DFT is exact for two-electron systems (compare with RKS); Thomas-Fermi + 1/9 vW
shows the typical ~10% overbinding of classical functionals.  Use uncontracted bases with
grid kinetic functionals (contracted bases give artefacts).
'''
from pyscf import dft, gto

from pyscf_ml.ofdft import OFDFT

mol = gto.M(atom='H 0 0 0; H 0 0 0.74', basis='unc-cc-pvdz', verbose=0)
e_ks = dft.RKS(mol, xc='lda,vwn').kernel()

of = OFDFT(mol, kinetic='vw', xc='lda,vwn')
of.verbose = 4                      # per-iteration output
e_vw = of.kernel()
print(f'H2  RKS-LDA {e_ks:.10f}   OF-DFT(vW) {e_vw:.10f}   diff {e_vw - e_ks:.1e} Ha')
print('energy breakdown:', {k: round(v, 6) for k, v in of.scf_summary.items()})

mol = gto.M(atom='Ne 0 0 0', basis='unc-6-31g', verbose=0)
of = OFDFT(mol, kinetic='tf+1/9vw', xc='lda,vwn')
of.kernel()                         # cheap start: superposition of atomic densities
print(f'Ne  TF+1/9vW+LDA {of.e_tot:.4f} Ha (RKS-LDA is about -128.2 Ha), '
      f'converged={of.converged}, {of.niter} iterations')
print('density on the grid integrates to', of.rho @ of.grids.weights)
