'''Device selection, and CPU/GPU agreement of the learned functionals (GPU part skips without
CUDA).'''
import pytest
import torch
from conftest import requires_cuda
from pyscf import dft, gto

import pyscf_ml
from pyscf_ml.device import resolve_device


def test_override_and_environment(monkeypatch):
    try:
        pyscf_ml.set_device('cpu')
        assert pyscf_ml.get_device() == torch.device('cpu')
        pyscf_ml.set_device(None)
        monkeypatch.setenv('PYSCF_ML_DEVICE', 'cpu')
        assert pyscf_ml.get_device() == torch.device('cpu')
        monkeypatch.delenv('PYSCF_ML_DEVICE')
        expected = 'cuda' if torch.cuda.is_available() else 'cpu'
        assert pyscf_ml.get_device().type == expected
        assert resolve_device(None) == pyscf_ml.get_device()
        assert resolve_device('cpu') == torch.device('cpu')
    finally:
        pyscf_ml.set_device(None)


@pytest.mark.parametrize('device', ['cpu', pytest.param('cuda', marks=requires_cuda)])
def test_network_is_built_once_per_device(device):
    '''The network is loaded onto the device once and reused by every evaluation: each SCF
    cycle calls net() once per grid block.  (It used to be rebuilt on every call on CUDA,
    where 'cuda' compared unequal to the parameters' 'cuda:0'.)'''
    fn = pyscf_ml.xc.lookup('nn-gga')
    try:
        pyscf_ml.set_device(device)
        net = fn.net()
        assert next(net.parameters()).device == pyscf_ml.get_device()
        assert pyscf_ml.get_device().type == device
        assert fn.net() is net
    finally:
        pyscf_ml.set_device(None)


@requires_cuda
def test_cuda_device_has_an_index(monkeypatch):
    try:
        for name in ('cuda', 'cuda:0'):
            pyscf_ml.set_device(name)
            assert pyscf_ml.get_device() == torch.device('cuda', torch.cuda.current_device())
        pyscf_ml.set_device(None)
        monkeypatch.setenv('PYSCF_ML_DEVICE', 'cuda')
        assert pyscf_ml.get_device().index is not None
    finally:
        pyscf_ml.set_device(None)


@requires_cuda
@pytest.mark.parametrize('xc', ['nn-lsda', 'nn-gga', 'nn-metagga', 'nn-nra'])
def test_cpu_and_gpu_energies_agree(xc):
    mol = gto.M(atom='O 0 0 0.1173; H 0 0.7572 -0.4692; H 0 -0.7572 -0.4692', basis='6-31g',
                verbose=0)
    energies = []
    try:
        for device in ('cpu', 'cuda'):
            pyscf_ml.set_device(device)
            mf = dft.RKS(mol, xc=xc)
            mf.conv_tol = 1e-11
            energies.append(mf.kernel())
    finally:
        pyscf_ml.set_device(None)
    assert abs(energies[0] - energies[1]) < 1e-8
