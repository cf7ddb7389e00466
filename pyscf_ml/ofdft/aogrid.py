'''AO values on the quadrature grid, stored block by block with only the AOs that are non-zero
in each block.

PySCF sorts grid points into spatially compact groups, so a block of consecutive points sees
only the shells near it.  ``make_mask`` (PySCF's own screening for XC, AO values below 1e-15
count as zero) picks them, and only those shells are evaluated.  With the values kept, memory
and the cost of psi on the grid per energy evaluation grow linearly with the molecule once it
is larger than an AO's range (the one-off mask is n_grid x n_shell, as in PySCF's KS).  Dense
storage grew as n_grid x n_ao and, above ``max_memory``/2, was recomputed at every evaluation;
here that happens only when even the sparse values do not fit.
'''
import numpy as np
from pyscf import dft
from pyscf.gto.eval_gto import BLKSIZE
from pyscf.lib import logger

BLOCK = BLKSIZE * 32     # points per block: a multiple of PySCF's screening block


class SparseAOGrid:
    '''chi_mu(r_g) (and grad chi for ``deriv=1``) for the AOs that are non-zero near r_g.

    ``blocks`` yields ``(p0, p1, idx, ao)``: points p0:p1, AO indices ``idx`` and their values,
    shape (p1-p0, len(idx)) or (4, p1-p0, len(idx)).  Values are kept when they fit in
    ``max_memory``/2 MB, else made again at each pass (logged once).
    '''

    def __init__(self, mol, coords, deriv=0, max_memory=4000, log=None):
        self.mol = mol
        self.coords = coords
        self.deriv = deriv
        self.max_memory = max_memory
        self.ngrids = coords.shape[0]
        self._log = log or logger.new_logger(mol)
        self._cache = self._try_cache()

    def _block(self, p0, p1):
        mol = self.mol
        coords = self.coords[p0:p1]
        mask = dft.gen_grid.make_mask(mol, coords)
        shells = np.nonzero(mask.any(axis=0))[0]
        ao_loc = mol.ao_loc_nr()
        if shells.size == 0:
            idx = np.zeros(0, dtype=int)
            shape = (4, p1 - p0, 0) if self.deriv else (p1 - p0, 0)
            return p0, p1, idx, np.zeros(shape)
        # runs of consecutive non-zero shells, each evaluated with one call
        breaks = np.nonzero(np.diff(shells) > 1)[0] + 1
        vals = [dft.numint.eval_ao(mol, coords, deriv=self.deriv,
                                   shls_slice=(run[0], run[-1] + 1))
                for run in np.split(shells, breaks)]
        idx = np.concatenate([np.arange(ao_loc[s], ao_loc[s + 1]) for s in shells])
        return p0, p1, idx, np.ascontiguousarray(np.concatenate(vals, axis=-1))

    def _try_cache(self):
        limit = self.max_memory * 1e6 / 2
        blocks, size = [], 0
        for p0 in range(0, self.ngrids, BLOCK):
            blk = self._block(p0, min(self.ngrids, p0 + BLOCK))
            size += blk[3].nbytes
            if size > limit:
                self._log.info('AO values on the grid exceed max_memory/2 (%.0f MB): they are '
                               'evaluated again at every energy evaluation', limit * 1e-6)
                return None
            blocks.append(blk)
        nnz = sum(b[2].size * (b[1] - b[0]) for b in blocks)
        self._log.debug('AO values on the grid: %.0f MB, %.1f%% of dense storage', size * 1e-6,
                        100. * nnz / max(1, self.ngrids * self.mol.nao))
        return blocks

    @property
    def blocks(self):
        if self._cache is not None:
            return iter(self._cache)
        return (self._block(p0, min(self.ngrids, p0 + BLOCK))
                for p0 in range(0, self.ngrids, BLOCK))

    def values(self, a):
        '''sum_mu a_mu chi_mu on the grid: (ng,), or (4, ng) with its gradient for deriv=1.'''
        out = np.empty((4, self.ngrids) if self.deriv else self.ngrids)
        for p0, p1, idx, ao in self.blocks:
            out[..., p0:p1] = ao @ a[idx]
        return out

    def density(self, dm):
        '''rho(r) = sum chi_mu D_mu nu chi_nu for a symmetric density matrix.'''
        out = np.empty(self.ngrids)
        for p0, p1, idx, ao in self.blocks:
            ao0 = ao[0] if self.deriv else ao
            out[p0:p1] = np.einsum('gi,gi->g', ao0 @ dm[np.ix_(idx, idx)], ao0)
        return out

    def project(self, f):
        '''b_mu = sum_g chi_mu(r_g) f_g for a function f on the grid (weights included in f).'''
        out = np.zeros(self.mol.nao)
        for p0, p1, idx, ao in self.blocks:
            ao0 = ao[0] if self.deriv else ao
            out[idx] += ao0.T @ f[p0:p1]
        return out

    def fock_vec(self, psi, v):
        '''(V a)_mu for the potential matrix V_mu nu = sum_g [v0 chi_mu chi_nu
        + v1 . grad(chi_mu chi_nu)], given psi = :meth:`values` (a) on the grid; ``v`` is (ng,)
        for deriv=0, (4, ng) for deriv=1, weights included.'''
        out = np.zeros(self.mol.nao)
        for p0, p1, idx, ao in self.blocks:
            if not self.deriv:
                out[idx] += ao.T @ (v[p0:p1] * psi[p0:p1])
                continue
            vb, pb = v[:, p0:p1], psi[:, p0:p1]
            out[idx] += ao[0].T @ (vb[0] * pb[0] + np.einsum('xg,xg->g', vb[1:4], pb[1:4]))
            out[idx] += np.einsum('xgi,xg->i', ao[1:4], vb[1:4] * pb[0])
        return out
