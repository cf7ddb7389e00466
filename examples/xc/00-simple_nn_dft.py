#!/usr/bin/env python
'''
Learned XC functionals as ordinary PySCF names.

After ``import pyscf_ml``, 'nn-lsda', 'nn-gga', 'nn-metagga' and 'nn-nra' (the neural
functionals of Nagai, Akashi & Sugino, npj Comput. Mater. 2020, with weights trained by
pyscf_ml) work wherever a libxc name does.
'''

from pyscf import dft, gto

import pyscf_ml  # noqa: F401  registers the nn-* names

mol = gto.M(atom='O 0 0 0.1173; H 0 0.7572 -0.4692; H 0 -0.7572 -0.4692', basis='6-31g')

mf = dft.RKS(mol)
mf.xc = 'nn-gga'
mf.kernel()

# NN-NRA adds a nonlocal "near region" descriptor summed over the whole molecular grid
mf = dft.RKS(mol, xc='nn-nra')
mf.kernel()
print('E(nn-nra) =', mf.e_tot)
