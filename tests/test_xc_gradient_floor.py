'''The gradient floor of our nn-* weights: log sqrt(t2^2 + c^2) in place of log t2.

Without it (the published form), G depends on log t2, which is not analytic at grad n = 0:
the energy density has a dip narrower than the grid spacing at every high-density point where
the gradient vanishes, and the SCF on default grids can stall (pyscf_ml.xc.forms explains).'''
import pytest
import torch

from pyscf_ml.modelcard import WeightFileError
from pyscf_ml.xc.forms import NagaiMLP, SpinDensities, descriptors, eps_xc
from pyscf_ml.xc.weights_io import load_state_dict, save_state_dict


def _densities(sigma):
    '''Closed-shell points with n = 0.3 and tau = 0.2 (a bond midpoint) and total sigma.'''
    sigma = torch.as_tensor(sigma, dtype=torch.float64)
    half = torch.full_like(sigma, 0.15)
    return SpinDensities(half, half, sigma / 4, sigma / 4, sigma / 4,
                         torch.full_like(sigma, 0.1), torch.full_like(sigma, 0.1))


def _net(t2_floor):
    torch.manual_seed(3)
    net = NagaiMLP(4).double()
    net.t2_floor.fill_(t2_floor)
    return net


def _vsigma(net, sigma):
    '''d(n eps_xc)/d sigma at the points of _densities(sigma).'''
    sigma = torch.as_tensor(sigma, dtype=torch.float64).requires_grad_(True)
    d = _densities(sigma)
    e = (eps_xc(net, 4, d) * (d.n_a + d.n_b)).sum()
    return torch.autograd.grad(e, sigma)[0]


def test_floor_zero_is_the_published_descriptor():
    d = _densities([0.0, 1e-4, 0.3])
    bare = descriptors(4, d)[0]
    assert torch.equal(descriptors(4, d, t2_floor=0.0)[0], bare)
    # and with a floor, log t2 becomes log sqrt(t2^2 + c^2), nothing else changes
    floored = descriptors(4, d, t2_floor=0.1)[0]
    t2 = torch.exp(bare[:, 2])
    assert torch.allclose(floored[:, 2], 0.5 * torch.log(t2 ** 2 + 0.01), rtol=0, atol=1e-14)
    assert torch.equal(floored[:, [0, 1, 3]], bare[:, [0, 1, 3]])


def test_floor_makes_the_energy_density_analytic_in_sigma():
    '''With the floor, d(n eps)/d sigma has a finite limit at sigma = 0 (it changes by < 1e-4
    relative between sigma = 1e-10 and 0); the bare form's grows ~1/sigma down to the 1e-7
    regulariser: it differs by two orders of magnitude between sigma = 1e-4 and 0.'''
    floored = _vsigma(_net(0.1), [0.0, 1e-10])
    assert torch.isfinite(floored).all()
    assert abs(floored[1] - floored[0]) <= 1e-4 * abs(floored[0])
    bare = _vsigma(_net(0.0), [0.0, 1e-4])
    assert abs(bare[0]) > 100 * abs(bare[1])


def test_floor_is_saved_with_the_weights(tmp_path):
    net = _net(0.1)
    path = tmp_path / 'w.pt'
    save_state_dict(path, 'nn-metagga', net.state_dict())
    state = load_state_dict(str(path), 'nn-metagga')
    assert float(state['t2_floor']) == 0.1
    # a file without a floor (older files, the published format) is the published form
    state.pop('t2_floor')
    torch.save(state, path)
    assert float(load_state_dict(str(path), 'nn-metagga')['t2_floor']) == 0.0


def test_negative_floor_is_refused(tmp_path):
    net = _net(0.1)
    net.t2_floor.fill_(-1.0)
    path = tmp_path / 'w.pt'
    save_state_dict(path, 'nn-metagga', net.state_dict())
    with pytest.raises(WeightFileError, match='t2_floor'):
        load_state_dict(str(path), 'nn-metagga')

