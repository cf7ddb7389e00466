#!/usr/bin/env python
'''
Where the networks run.

Inference uses CUDA when torch sees a GPU, else the CPU.  Override with the environment
variable PYSCF_ML_DEVICE=cpu|cuda|cuda:1, or at run time with pyscf_ml.set_device().
'''

from pyscf import dft, gto

import pyscf_ml

print('inference device:', pyscf_ml.get_device())
mol = gto.M(atom='H 0 0 0; F 0 0 0.92', basis='6-31g')
pyscf_ml.set_device('cpu')
e_cpu = dft.RKS(mol, xc='nn-metagga').kernel()
pyscf_ml.set_device(None)   # back to automatic
