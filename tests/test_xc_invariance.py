'''Learned XC energies do not depend on where the molecule is or how it is turned.

The molecule and its integration grid are rotated and translated together (PySCF's Becke grids
keep a lab-fixed Lebedev orientation, so a rebuilt grid would differ by quadrature error); the
SCF energy must then agree to SCF precision.  A functional that used absolute coordinates or
directions (e.g. a non-invariant NRA kernel) would fail.'''
import numpy as np
import pytest
from pyscf import dft, gto
from scipy.spatial.transform import Rotation

import pyscf_ml  # noqa: F401

FORMS = ['nn-lsda', 'nn-gga', 'nn-metagga', 'nn-nra']
# no symmetry: NH2 radical (UKS) and a distorted water (RKS)
GEOMETRIES = {0: 'O 0 0 0.1173; H 0.05 0.7572 -0.4692; H 0 -0.70 -0.50',
              1: 'N 0 0 0; H 0 0 1.03; H 0.99 0 -0.26'}


def _energy(mol, coords, weights, xc):
    mf = (dft.RKS if mol.spin == 0 else dft.UKS)(mol, xc=xc)
    mf.grids.coords, mf.grids.weights = coords, weights
    mf.conv_tol = 1e-11
    e = mf.kernel()
    assert mf.converged
    return e


# every form with RKS; UKS for the two shipped trained forms (the local forms share one path)
@pytest.mark.parametrize('xc, spin', [(xc, 0) for xc in FORMS]
                         + [('nn-metagga', 1), ('nn-nra', 1)])
def test_energy_invariant_under_rotation_and_translation(xc, spin):
    mol = gto.M(atom=GEOMETRIES[spin], spin=spin, basis='6-31g', verbose=0)
    grids = dft.gen_grid.Grids(mol)
    grids.level = 1
    grids.build(with_non0tab=False)
    e0 = _energy(mol, grids.coords, grids.weights, xc)
    rot = Rotation.random(random_state=11).as_matrix()
    shift = np.array([1.3, -0.7, 2.1])
    mol_r = mol.set_geom_(mol.atom_coords() @ rot.T + shift, unit='Bohr', inplace=False)
    e_r = _energy(mol_r, grids.coords @ rot.T + shift, grids.weights, xc)
    assert abs(e_r - e0) < 1e-8, e_r - e0
