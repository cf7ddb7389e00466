'''The near-region kernel of NN-NRA: K_ij = exp(-|r_i - r_j| / sigma) for |r_i - r_j| < cutoff.

R = K (w n) needs the density on the whole molecular grid, and the extra potential needs
K (w dE/dR).  K depends only on the grid, so it is built once per grid and cached.  Two ways
to apply it, neither ever dense O(N_grid^2):
- ``sparse`` (CPU): the pairs within the cutoff come from a k-d tree and are stored once as a
  scipy sparse (COO) matrix of the upper triangle, ~8 bytes per nonzero of K;
- ``blocked`` (GPU, or a CPU short of memory): grid points are put in Morton (Z-curve) order
  and cut into chunks of nearby points; each chunk meets only the chunks whose bounding boxes
  lie within the cutoff (its "band"), and each band is recomputed on the fly in torch.
'''
import hashlib
import math
from collections import OrderedDict

import numpy as np
import scipy.sparse
import torch
from scipy.spatial import cKDTree

SIGMA = 0.2                       # bohr, Nagai et al. 2020
CUTOFF = SIGMA * math.log(1000)   # drop pairs whose kernel is below 1e-3
CHUNK = 512


def _morton_order(coords, cell):
    ijk = np.floor((coords - coords.min(axis=0)) / cell).astype(np.int64)
    ijk = np.minimum(ijk, (1 << 21) - 1)
    code = np.zeros(len(coords), dtype=np.int64)
    for bit in range(21):
        for axis in range(3):
            code |= ((ijk[:, axis] >> bit) & 1) << (3 * bit + axis)
    return np.argsort(code, kind='stable')


class NearRegionKernel:
    '''K on a fixed set of points (coords in bohr, shape (N, 3)).'''

    def __init__(self, coords, sigma=SIGMA, cutoff=CUTOFF, chunk=CHUNK):
        self.coords = np.ascontiguousarray(coords, dtype=np.float64)
        self.sigma, self.cutoff, self.chunk = sigma, cutoff, chunk
        self.ngrids = len(self.coords)
        self._upper = None
        self._bands = None

    # ---- CPU: stored sparse matrix -------------------------------------------------------
    def build_sparse(self):
        '''The strict upper triangle U of K as a scipy sparse matrix (COO; built on first
        use): K = U + U^T + 1, so only half the pairs are stored and nothing is sorted.'''
        if self._upper is None:
            pairs = cKDTree(self.coords).query_pairs(self.cutoff, output_type='ndarray')
            i = pairs[:, 0].astype(np.int32)
            j = pairs[:, 1].astype(np.int32)
            del pairs
            d2 = np.zeros(len(i))
            for axis in range(3):   # 1-D gathers keep the temporaries small
                x = self.coords[:, axis].copy()
                diff = x[i]
                diff -= x[j]
                diff *= diff
                d2 += diff
                del diff
            d = np.sqrt(d2, out=d2)
            keep = d < self.cutoff          # query_pairs keeps d <= cutoff
            i, j = i[keep], j[keep]
            k = np.exp(d[keep] * (-1 / self.sigma))
            del d, keep
            self._upper = scipy.sparse.coo_matrix((k, (i, j)), shape=(self.ngrids,) * 2)
        return self._upper

    @property
    def nnz(self):
        '''Number of nonzeros of K (pairs within the cutoff, self pairs included).'''
        return 2 * self.build_sparse().nnz + self.ngrids

    # ---- blocked, recomputed on the fly (torch, any device) ------------------------------
    def _prepare_bands(self):
        if self._bands is None:
            # fine Morton cells keep each chunk compact, so its band holds few far points
            order = _morton_order(self.coords, self.cutoff / 8)
            xyz = self.coords[order]
            chunks = [(s, min(s + self.chunk, self.ngrids))
                      for s in range(0, self.ngrids, self.chunk)]
            lo = np.array([xyz[a:b].min(axis=0) for a, b in chunks])
            hi = np.array([xyz[a:b].max(axis=0) for a, b in chunks])
            gap = np.maximum(0, np.maximum(lo[None] - hi[:, None], lo[:, None] - hi[None]))
            near = np.sqrt((gap ** 2).sum(axis=-1)) < self.cutoff
            bands = [np.concatenate([np.arange(*chunks[j]) for j in np.nonzero(row)[0]])
                     for row in near]
            self._bands = (order, xyz, chunks, bands)
        return self._bands

    def matvec(self, x, method='sparse'):
        '''K @ x for x of shape (N,) or (N, k): numpy via the sparse matrix, or torch (any device)
        blocked.'''
        if method == 'sparse':
            x = np.asarray(x)
            upper = self.build_sparse()
            return upper @ x + upper.T @ x + x
        if method != 'blocked':
            raise ValueError(f'unknown kernel method {method!r}')
        order, xyz, chunks, bands = self._prepare_bands()
        x = torch.as_tensor(x, dtype=torch.float64)
        dev = x.device
        xyz = torch.as_tensor(xyz, device=dev)
        order = torch.as_tensor(order, device=dev)
        xs = x[order]
        ys = torch.empty_like(xs)
        for (a, b), band in zip(chunks, bands):
            band = torch.as_tensor(band, device=dev)
            diff = xyz[a:b, None, :] - xyz[band][None, :, :]
            d = torch.sqrt((diff * diff).sum(-1))
            k = torch.where(d < self.cutoff, torch.exp(-d / self.sigma), torch.zeros_like(d))
            ys[a:b] = k @ xs[band]
        y = torch.empty_like(ys)
        y[order] = ys
        return y


_CACHE = OrderedDict()
_CACHE_SIZE = 2
_PINNED = {}   # kernels a caller keeps alive across many grids (training with the SCF in the loop)


def _cache_key(coords, sigma, cutoff):
    return (coords.shape, hashlib.sha1(coords.tobytes()).hexdigest(), sigma, cutoff)


def get_kernel(coords, sigma=SIGMA, cutoff=CUTOFF):
    '''The kernel of this grid, built once and cached (keyed by the coordinates' bytes).'''
    coords = np.ascontiguousarray(coords, dtype=np.float64)
    key = _cache_key(coords, sigma, cutoff)
    if key in _PINNED:
        return _PINNED[key]
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    kernel = NearRegionKernel(coords, sigma, cutoff)
    _CACHE[key] = kernel
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return kernel


def pin_kernel(coords, sigma=SIGMA, cutoff=CUTOFF):
    '''The kernel of this grid, kept outside the small LRU cache until :func:`unpin_kernels`
    (the training loop cycles through more grids than the cache holds).'''
    coords = np.ascontiguousarray(coords, dtype=np.float64)
    kernel = get_kernel(coords, sigma, cutoff)
    _PINNED[_cache_key(coords, sigma, cutoff)] = kernel
    return kernel


def unpin_kernels():
    _PINNED.clear()


def clear_kernel_cache():
    '''Drop the cached (unpinned) kernels, e.g. between the molecules of a benchmark: a large
    molecule's kernel takes GBs.'''
    _CACHE.clear()
