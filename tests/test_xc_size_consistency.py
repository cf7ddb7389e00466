'''Two molecules 50 Angstrom apart: the energy is the sum of their energies.'''
import pytest
from pyscf import dft, gto

import pyscf_ml  # noqa: F401

A = [('H', (0, 0, 0)), ('F', (0, 0, 0.92))]
B = [('N', (0, 0, 0)), ('N', (0, 0, 1.10))]


def _e(atoms, xc):
    mol = gto.M(atom=atoms, basis='6-31g', verbose=0)
    mf = dft.RKS(mol, xc=xc)
    mf.grids.level = 1
    mf.conv_tol = 1e-11
    e = mf.kernel()
    assert mf.converged
    return e


@pytest.mark.parametrize('xc', ['nn-gga', 'nn-nra'])
def test_size_consistency(xc):
    far = [(s, (x, y, z + 50.0)) for s, (x, y, z) in B]
    assert abs(_e(A + far, xc) - _e(A, xc) - _e(B, xc)) < 1e-6
