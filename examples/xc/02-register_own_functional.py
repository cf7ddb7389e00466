#!/usr/bin/env python
'''
Register your own trained weights under a new name.

``form`` is one of 'nn-lsda', 'nn-gga', 'nn-metagga', 'nn-nra'; the weight file is either the
format written by ``python -m pyscf_ml.train xc`` or a published legacy state_dict of Nagai
et al.  Here we register the shipped NN-GGA weights again under another name.
'''

from pyscf import dft, gto

import pyscf_ml
from pyscf_ml.weights import path

pyscf_ml.xc.register('my-gga', 'nn-gga', path('nn_gga.pt'))
print('registered:', pyscf_ml.xc.registered_names())

mol = gto.M(atom='H 0 0 0; F 0 0 0.92', basis='6-31g')
dft.RKS(mol, xc='my-gga').kernel()
dft.UKS(mol, xc='MY-GGA').kernel()   # names are case-insensitive
