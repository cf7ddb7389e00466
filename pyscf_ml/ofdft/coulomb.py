'''Density-fitted Coulomb term for orbital-free DFT, with 3-index integrals kept only for
overlapping atom pairs.

The OF density changes at every energy evaluation, so the 3-index integrals (mu nu|P) are made
once and kept.  PySCF's DF object stores them for all n_ao^2/2 AO pairs, so every J costs
n_aux n_ao^2 and grows as n^3 with the molecule.  Here the AO pairs of atoms A, B are kept only
where the largest overlap |S_mu nu| between their AOs exceeds ``threshold``.  Beyond the range of
the overlap the number of kept pairs grows linearly, so a J costs O(n^2) and so does building the
integrals; only the Cholesky factor of the n_aux^2 metric (made once) is O(n^3), with a small
prefactor.

With the same auxiliary basis and metric this is PySCF's density-fitted J up to the dropped pairs
(``tests/test_ofdft_coulomb.py`` compares the two).
'''
import numpy as np
import scipy.linalg
from pyscf import df
from pyscf.lib import logger

# Below this eigenvalue of the Coulomb metric an auxiliary combination counts as linearly
# dependent (used only when the Cholesky factorisation fails, as PySCF does).
METRIC_LINDEP = 1e-13


class ScreenedDFJ:
    '''J[D] = (mu nu|P) (P|Q)^-1 (Q|ls) D_ls over the kept pairs.

    Args:
        mol : the molecule.
        auxbasis : auxiliary basis (None: PySCF's default for ``mol.basis``, as ``df.DF``).
        threshold : keep the AO pairs of two atoms when max |S_mu nu| between them exceeds it.
    '''

    def __init__(self, mol, auxbasis=None, threshold=1e-12, verbose=None):
        self.mol = mol
        self.threshold = threshold
        log = logger.new_logger(mol, verbose)
        t0 = (logger.process_clock(), logger.perf_counter())
        self.auxmol = df.addons.make_auxmol(mol, auxbasis)
        self._factor_metric(self.auxmol.intor('int2c2e', hermi=1), log)
        self._build_pairs(log)
        log.timer('screened DF-J set-up', *t0)

    def _factor_metric(self, j2c, log):
        try:
            self._cho = scipy.linalg.cho_factor(j2c, lower=True)
            self._metric_inv = None
        except np.linalg.LinAlgError:
            w, v = np.linalg.eigh(j2c)
            keep = w > METRIC_LINDEP
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

    def _build_pairs(self, log):
        mol, auxmol = self.mol, self.auxmol
        sl = mol.aoslice_by_atom()
        pairs = self._atom_pairs()
        rows_mu, rows_nu = [], []
        for a, b in pairs:
            mu, nu = np.meshgrid(np.arange(*sl[a, 2:]), np.arange(*sl[b, 2:]), indexing='ij')
            keep = mu >= nu           # a diagonal block keeps its lower triangle only
            rows_mu.append(mu[keep])
            rows_nu.append(nu[keep])
        self._mu = np.concatenate(rows_mu)
        self._nu = np.concatenate(rows_nu)
        # D is symmetric: an off-diagonal pair stands for (mu nu) and (nu mu)
        self._pair_weight = np.where(self._mu == self._nu, 1.0, 2.0)
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

    def fit_coefficients(self, dm):
        '''Auxiliary coefficients c = (P|Q)^-1 (Q|rho) of the density of ``dm``.'''
        b = self._int3c.T @ (self._pair_weight * dm[self._mu, self._nu])
        return self._solve_metric(b), b

    def rank_one(self, a, scale):
        '''Hartree energy and J a for the rank-one density matrix D = scale a a^T, in
        O(n_pairs n_aux) without forming D or J.'''
        d = scale * self._pair_weight * a[self._mu] * a[self._nu]
        b = self._int3c.T @ d
        c = self._solve_metric(b)
        v = self._int3c @ c                       # J over the kept pairs
        off = self._mu != self._nu
        ja = np.bincount(self._mu, v * a[self._nu], minlength=a.size)
        ja += np.bincount(self._nu[off], v[off] * a[self._mu[off]], minlength=a.size)
        return .5 * b @ c, ja

    def get_j(self, dm):
        '''Coulomb matrix of the symmetric density matrix ``dm``.'''
        c = self.fit_coefficients(dm)[0]
        v = self._int3c @ c
        vj = np.zeros_like(dm)
        vj[self._mu, self._nu] = v
        vj[self._nu, self._mu] = v
        return vj
