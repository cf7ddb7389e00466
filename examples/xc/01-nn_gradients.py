#!/usr/bin/env python
'''
Nuclear gradients with learned functionals, with and without density fitting.

Local forms go through PySCF's own gradient code (grid response available); NN-NRA has its
own whole-grid gradient path (no grid response, a warning says so).
'''

from pyscf import dft, gto

import pyscf_ml  # noqa: F401

mol = gto.M(atom='O 0 0 0.1173; H 0 0.7572 -0.4692; H 0 -0.7572 -0.4692', basis='6-31g')

mf = dft.RKS(mol, xc='nn-metagga').density_fit()
mf.kernel()
g = mf.nuc_grad_method()
g.grid_response = True
g.kernel()

mf = dft.RKS(mol, xc='nn-nra')
mf.kernel()
mf.nuc_grad_method().kernel()
