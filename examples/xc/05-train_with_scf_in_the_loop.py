#!/usr/bin/env python
'''
Train an nn-* functional with the SCF in the loop on your own molecules.

The loss is evaluated at the self-consistent density of the current network: squared errors of
experimental G2 atomization energies and the squared density error against CCSD.  Its gradient
is exact (explicit dE_xc/dtheta for the energies, adjoint coupled-perturbed KS for the
densities).  This example uses a small basis and a few steps so that it runs in a minute or two;
the shipped weights were made with the commands in pyscf_ml/weights/nn_metagga.json.

Command-line equivalent:
    python -m pyscf_ml.data xc-reference --molecules LiH --basis 6-31g --out lih.npz
    python -m pyscf_ml.train xc --form nn-gga --reference lih.npz --steps 3 --out my_gga.pt
'''

import os
import tempfile

from pyscf import dft, gto

import pyscf_ml
from pyscf_ml.data import xc_reference
from pyscf_ml.train import xc as train_xc

work = tempfile.mkdtemp()
ref = os.path.join(work, 'lih.npz')
weights = os.path.join(work, 'my_gga.pt')

# Reference data: CCSD densities of LiH and its atoms, experimental De from ase's G2/97 tables
xc_reference.main(['--molecules', 'LiH', '--basis', '6-31g', '--out', ref])

# Three optimiser steps starting from the shipped nn-gga weights
train_xc.main(['--form', 'nn-gga', '--reference', ref, '--steps', '3', '--grid-level', '2',
               '--out', weights, '--log', os.path.join(work, 'train.log')])

# Use the result like any functional name
pyscf_ml.xc.register('my-gga', 'nn-gga', weights)
mol = gto.M(atom='Li 0 0 0; H 0 0 1.5949', basis='6-31g')
mf = dft.RKS(mol)
mf.xc = 'my-gga'
mf.kernel()
