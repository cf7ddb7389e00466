'''Density-fitted Coulomb term for orbital-free DFT, with 3-index integrals kept only for
overlapping atom pairs.

The OF density changes at every energy evaluation, so the 3-index integrals (mu nu|P) are made
once and kept.  PySCF's DF object stores them for all n_ao^2/2 AO pairs, so every J costs
n_aux n_ao^2 and grows as n^3 with the molecule.  Here the AO pairs of atoms A, B are kept only
where the largest overlap |S_mu nu| between their AOs exceeds ``threshold``.  Beyond the range of
the overlap the number of kept pairs grows linearly, so a J costs O(n^2) and so do building the
integrals and holding them in memory; the Cholesky factor of the n_aux^2 metric (made once per
set-up) is O(n^3), with a small prefactor.  When the kept integrals would not fit in
``max_memory``, the term falls back to PySCF's DF object (which can spill to disk), with a
warning.

With the same auxiliary basis and metric this is PySCF's density-fitted J up to the dropped pairs
(``tests/test_ofdft_coulomb.py`` compares the two).
'''
import numpy as np
import scipy.linalg
from pyscf import df
from pyscf.lib import logger


class ScreenedDFJ:
    '''J[D] = (mu nu|P) (P|Q)^-1 (Q|ls) D_ls over the kept pairs.

    Args:
        mol : the molecule.
        auxbasis : auxiliary basis (None: PySCF's default for ``mol.basis``, as ``df.DF``).
        threshold : keep the AO pairs of two atoms when max |S_mu nu| between them exceeds it.
        max_memory : MB the kept integrals may take; above it PySCF's DF object is used.
        log : a ``pyscf.lib.logger.Logger`` (default: one for ``mol``).
    '''

    def __init__(self, mol, auxbasis=None, threshold=1e-12, max_memory=None, log=None):
        self.mol = mol
        self.threshold = threshold
        self.max_memory = mol.max_memory if max_memory is None else max_memory
        log = log or logger.new_logger(mol)
        t0 = (logger.process_clock(), logger.perf_counter())
        self.auxmol = df.addons.make_auxmol(mol, auxbasis)
        self._pyscf_df = None
        pairs = self._atom_pairs()
        size_mb = self._pair_count(pairs) * self.auxmol.nao * 8e-6
        if size_mb > self.max_memory:
            log.warn('screened DF-J: the kept 3-index integrals (%.0f MB) exceed max_memory '
                     '(%d MB); using PySCF\'s DF object instead', size_mb, self.max_memory)
            self._pyscf_df = df.DF(mol, auxbasis)
            self._pyscf_df.max_memory = self.max_memory
            self._pyscf_df.verbose = 0
            self._pyscf_df.build()
        else:
            self._factor_metric(self.auxmol.intor('int2c2e', hermi=1), log)
            self._build_pairs(pairs, log)
        log.timer('screened DF-J set-up', *t0)

    def _factor_metric(self, j2c, log):
        try:
            self._cho = scipy.linalg.cho_factor(j2c, lower=True)
            self._metric_inv = None
        except np.linalg.LinAlgError:
            w, v = np.linalg.eigh(j2c)
            keep = w > df.incore.LINEAR_DEP_THR     # PySCF's threshold for the same case
            log.info('Coulomb metric not positive definite: %d of %d auxiliary combinations '
                     'dropped', int((~keep).sum()), w.size)
            self._cho = None
            self._metric_inv = (v[:, keep] / w[keep]) @ v[:, keep].T

    def _solve_metric(self, b):
        if self._cho is not None:
            return scipy.linalg.cho_solve(self._cho, b)
        return self._metric_inv @ b

    def _atom_pairs(self):
        '''(A, B) with B <= A whose AO overlap reaches the threshold.'''
        mol = self.mol
        s = np.abs(mol.intor_symmetric('int1e_ovlp'))
        sl = mol.aoslice_by_atom()
        pairs = []
        for a in range(mol.natm):
            a0, a1 = sl[a, 2:]
            for b in range(a + 1):
                b0, b1 = sl[b, 2:]
                if a1 > a0 and b1 > b0 and s[a0:a1, b0:b1].max() > self.threshold:
                    pairs.append((a, b))
        return pairs

    def _pair_count(self, pairs):
        sl = self.mol.aoslice_by_atom()
        n = sl[:, 3] - sl[:, 2]
        return sum(n[a] * (n[a] + 1) // 2 if a == b else n[a] * n[b] for a, b in pairs)

    def _build_pairs(self, pairs, log):
        mol, auxmol = self.mol, self.auxmol
        sl = mol.aoslice_by_atom()
        rows_mu, rows_nu = [], []
        for a, b in pairs:
            mu, nu = np.meshgrid(np.arange(*sl[a, 2:]), np.arange(*sl[b, 2:]), indexing='ij')
            if a == b:                # a diagonal block keeps its lower triangle only
                mu, nu = mu[mu >= nu], nu[mu >= nu]
            rows_mu.append(mu.ravel())
            rows_nu.append(nu.ravel())
        self._mu = np.concatenate(rows_mu)
        self._nu = np.concatenate(rows_nu)
        # D is symmetric: an off-diagonal pair stands for (mu nu) and (nu mu)
        self._off = self._mu != self._nu
        self._mu_off, self._nu_off = self._mu[self._off], self._nu[self._off]
        self._pair_weight = np.where(self._off, 2.0, 1.0)
        npair, naux = self._mu.size, auxmol.nao
        log.info('screened DF-J: %d of %d atom pairs, %d of %d AO pairs kept, '
                 '%d auxiliary functions, %.0f MB', len(pairs), mol.natm * (mol.natm + 1) // 2,
                 npair, mol.nao * (mol.nao + 1) // 2, naux, npair * naux * 8e-6)
        self._int3c = np.empty((npair, naux))
        p0 = 0
        for a, b in pairs:
            blk = df.incore.aux_e2(mol, auxmol, 'int3c2e', aosym='s1',
                                   shls_slice=(sl[a, 0], sl[a, 1], sl[b, 0], sl[b, 1],
                                               0, auxmol.nbas))
            if a == b:
                blk = blk[np.tril_indices(blk.shape[0])]
            else:
                blk = blk.reshape(-1, naux)
            self._int3c[p0:p0 + blk.shape[0]] = blk
            p0 += blk.shape[0]
        assert p0 == npair

    def rank_one(self, a, scale):
        '''Hartree energy and J a for the rank-one density matrix D = scale a a^T, in
        O(n_pairs n_aux) without forming D or J.'''
        if self._pyscf_df is not None:
            dm = scale * np.outer(a, a)
            vj = self.get_j(dm)
            return .5 * np.einsum('ij,ji->', vj, dm), vj @ a
        d = scale * self._pair_weight * a[self._mu] * a[self._nu]
        b = self._int3c.T @ d
        c = self._solve_metric(b)
        v = self._int3c @ c                       # J over the kept pairs
        ja = np.bincount(self._mu, v * a[self._nu], minlength=a.size)
        ja += np.bincount(self._nu_off, v[self._off] * a[self._mu_off], minlength=a.size)
        return .5 * b @ c, ja

    def get_j(self, dm):
        '''Coulomb matrix of the symmetric density matrix ``dm``.'''
        if self._pyscf_df is not None:     # its stored Cholesky vectors (memory or disk)
            return self._pyscf_df.get_jk(dm, hermi=1, with_k=False)[0]
        b = self._int3c.T @ (self._pair_weight * dm[self._mu, self._nu])    # (P|rho)
        v = self._int3c @ self._solve_metric(b)
        vj = np.zeros_like(dm)
        vj[self._mu, self._nu] = v
        vj[self._nu, self._mu] = v
        return vj
