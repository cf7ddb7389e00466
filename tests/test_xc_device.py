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
    '''The device names what tensors made there report, so device checks compare equal.'''
    try:
        for name in ('cuda', 'cuda:0'):
            pyscf_ml.set_device(name)
            assert pyscf_ml.get_device() == torch.zeros(1, device=name).device
        pyscf_ml.set_device(None)
        monkeypatch.setenv('PYSCF_ML_DEVICE', 'cuda')
        assert pyscf_ml.get_device() == torch.zeros(1, device='cuda').device
    finally:
        pyscf_ml.set_device(None)


def test_cuda_name_is_indexed_without_a_gpu(monkeypatch):
    '''The same on a machine without CUDA, with torch.cuda faked: 'cuda' must come back as
    'cuda:<current>' (it came back as 'cuda', which never equals a parameter's device, and the
    XC network was rebuilt at every grid block).'''
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'current_device', lambda: 1)
    try:
        pyscf_ml.set_device('cuda')
        assert pyscf_ml.get_device() == torch.device('cuda', 1)
        assert resolve_device('cuda:0') == torch.device('cuda', 0)
    finally:
        pyscf_ml.set_device(None)


@pytest.mark.skipif(torch.cuda.is_available(), reason='needs a machine without CUDA')
def test_cuda_requested_without_a_gpu_is_a_clear_error(monkeypatch):
    try:
        pyscf_ml.set_device('cuda')
        with pytest.raises(RuntimeError, match='torch sees no CUDA device'):
            pyscf_ml.get_device()
        pyscf_ml.set_device(None)
        monkeypatch.setenv('PYSCF_ML_DEVICE', 'cuda:0')
        with pytest.raises(RuntimeError, match='torch sees no CUDA device'):
            pyscf_ml.get_device()
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
