'''The NN-NRA near-region kernel: sparse and blocked forms against brute force.'''
import numpy as np
import pytest
import torch
from conftest import requires_cuda

from pyscf_ml.xc.nra_kernel import CUTOFF, SIGMA, NearRegionKernel, get_kernel


@pytest.fixture(scope='module')
def points():
    rng = np.random.default_rng(3)
    # a dense cluster (like a nucleus' radial shells) inside a sparse cloud
    core = rng.normal(scale=0.3, size=(800, 3))
    cloud = rng.uniform(-4, 4, size=(1200, 3))
    return np.vstack([core, cloud])


def _brute(coords, x):
    d = np.linalg.norm(coords[:, None] - coords[None], axis=-1)
    return (np.exp(-d / SIGMA) * (d < CUTOFF)) @ x


def test_sparse_matches_brute_force(points):
    x = np.random.default_rng(0).random((len(points), 2))
    kernel = NearRegionKernel(points)
    assert np.abs(kernel.matvec(x) - _brute(points, x)).max() < 1e-12
    d = np.linalg.norm(points[:, None] - points[None], axis=-1)
    assert kernel.nnz == int((d < CUTOFF).sum())


def test_blocked_matches_sparse(points):
    x = np.random.default_rng(1).random(len(points))
    kernel = NearRegionKernel(points, chunk=128)
    blocked = kernel.matvec(torch.as_tensor(x), 'blocked').numpy()
    assert np.abs(blocked - kernel.matvec(x)).max() < 1e-12


def test_cache_reuses_kernel(points):
    assert get_kernel(points) is get_kernel(points.copy())
    assert get_kernel(points) is not get_kernel(points + 1e-9)


@requires_cuda
def test_blocked_on_gpu_matches_cpu(points):
    x = np.random.default_rng(2).random(len(points))
    kernel = NearRegionKernel(points)
    gpu = kernel.matvec(torch.as_tensor(x, device='cuda'), 'blocked').cpu().numpy()
    assert np.abs(gpu - kernel.matvec(x)).max() < 1e-12


def test_cache_clear_keeps_pinned_kernels():
    from pyscf_ml.xc import nra_kernel
    rng = np.random.default_rng(3)
    a, b = rng.random((50, 3)), rng.random((60, 3))
    pinned = nra_kernel.pin_kernel(a)
    cached = nra_kernel.get_kernel(b)
    nra_kernel.clear_kernel_cache()
    try:
        assert nra_kernel.get_kernel(a) is pinned          # pinned kernels survive
        assert nra_kernel.get_kernel(b) is not cached      # the LRU cache was emptied
    finally:
        nra_kernel.unpin_kernels()
    assert nra_kernel.get_kernel(a) is not pinned
