#!/usr/bin/env python
'''
Second-order SCF and TDDFT with a learned meta-GGA.

The second derivatives of the network come from torch autograd.
'''

from pyscf import dft, gto, tddft

import pyscf_ml  # noqa: F401

mol = gto.M(atom='O 0 0 0.1173; H 0 0.7572 -0.4692; H 0 -0.7572 -0.4692', basis='6-31g')

mf = dft.RKS(mol, xc='nn-metagga').newton()
mf.kernel()

td = tddft.TDDFT(mf)
td.nstates = 3
td.kernel()
td.analyze()
