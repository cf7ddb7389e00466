'''The learned-functional integrator, checked with PBE written in torch: same energy and
potential as libxc's PBE through PySCF, RKS and UKS.'''
import numpy as np
import pytest
from pyscf import dft, gto

import pyscf_ml.xc as nnxc
from pyscf_ml.xc.torch_pbe import TorchPBE


@pytest.fixture(scope='module', autouse=True)
def torch_pbe():
    nnxc.register_functional(TorchPBE('torch-pbe'), overwrite=True)
    yield
    nnxc.unregister('torch-pbe')


@pytest.mark.parametrize('atom,spin', [
    ('O 0 0 0.1173; H 0 0.7572 -0.4692; H 0 -0.7572 -0.4692', 0),
    ('N 0 0 0; H 0 0 1.03; H 0.99 0 -0.26', 1),
    ('Li 0 0 0', 1)])
def test_scf_energy_equals_libxc(atom, spin):
    mol = gto.M(atom=atom, spin=spin, basis='6-31g', verbose=0)
    energies = []
    for xc in ('pbe', 'torch-pbe'):
        mf = (dft.RKS if spin == 0 else dft.UKS)(mol, xc=xc)
        mf.conv_tol = 1e-11
        energies.append(mf.kernel())
        assert mf.converged
    assert abs(energies[0] - energies[1]) < 1e-8


def test_energy_and_potential_at_fixed_density():
    mol = gto.M(atom='N 0 0 0; H 0 0 1.03; H 0.99 0 -0.26', spin=1, basis='6-31g', verbose=0)
    mf = dft.UKS(mol)
    mf.grids.level = 2
    dm = mf.get_init_guess()
    ni = mf._numint
    mf.grids.build()
    _, e_ref, v_ref = ni.nr_uks(mol, mf.grids, 'pbe', dm)
    _, e, v = ni.nr_uks(mol, mf.grids, 'torch-pbe', dm)
    assert abs(e - e_ref) < 1e-10
    assert np.abs(v - v_ref).max() < 1e-9
