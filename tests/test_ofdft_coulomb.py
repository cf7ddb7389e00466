'''The screened density-fitted Coulomb term and the block-sparse AO grid of the OF-DFT solver
agree with PySCF's dense counterparts.'''

import numpy as np
import pytest
from pyscf import dft, gto, scf

from pyscf_ml.ofdft import OFDFT
from pyscf_ml.ofdft.aogrid import SparseAOGrid
from pyscf_ml.ofdft.coulomb import ScreenedDFJ


def _chain(n, spacing=0.9):
    return gto.M(atom='; '.join(f'H 0 0 {spacing * i:.3f}' for i in range(n)),
                 basis='unc-6-31g', verbose=0)


def _random_dm(mol, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(mol.nao, mol.nao))
    return scf.hf.init_guess_by_minao(mol) + 0.01 * (x + x.T)


def test_j_equals_pyscf_density_fitting():
    mol = gto.M(atom='O 0 0 0; H 0 0.76 0.59; H 0 -0.76 0.59; Li 0 0 3', charge=1,
                basis='def2-svp', verbose=0)
    dm = _random_dm(mol, 0)
    vj_ref = scf.RHF(mol).density_fit().get_j(mol, dm)
    jfit = ScreenedDFJ(mol)
    assert abs(jfit.get_j(dm) - vj_ref).max() < 1e-11
    # an explicit auxiliary basis is honoured as well
    vj_ref = scf.RHF(mol).density_fit(auxbasis='weigend').get_j(mol, dm)
    assert abs(ScreenedDFJ(mol, 'weigend').get_j(dm) - vj_ref).max() < 1e-11


def test_screening_drops_distant_pairs_without_changing_j():
    mol = _chain(40)
    dm = _random_dm(mol, 1)
    jfit = ScreenedDFJ(mol)
    kept = jfit._mu.size / (mol.nao * (mol.nao + 1) // 2)
    assert kept < 0.6          # measured 0.46: pairs up to ~10 atoms (9 A) apart are kept
    vj = jfit.get_j(dm)
    vj_ref = scf.RHF(mol).density_fit().get_j(mol, dm)
    assert abs(np.einsum('ij,ji->', vj - vj_ref, dm)) < 1e-9   # measured -1.2e-12
    assert abs(vj - vj_ref).max() < 1e-9                        # measured 2.5e-12


def test_rank_one_energy_and_vector():
    mol = gto.M(atom='Li 0 0 0; H 0 0 1.6', basis='unc-6-31g', verbose=0)
    a = np.random.default_rng(2).normal(size=mol.nao)
    jfit = ScreenedDFJ(mol)
    dm = 3.0 * np.outer(a, a)
    vj = jfit.get_j(dm)
    e_j, ja = jfit.rank_one(a, 3.0)
    assert abs(e_j - .5 * np.einsum('ij,ji->', vj, dm)) < 1e-12 * abs(e_j)
    assert abs(ja - vj @ a).max() < 1e-12 * abs(ja).max()


def test_singular_metric_falls_back_to_eigenvectors():
    mol = gto.M(atom='H 0 0 0; H 0 0 0.74', basis='sto-3g', verbose=0)
    jfit = ScreenedDFJ(mol)
    v = np.random.default_rng(3).normal(size=(4, 2))
    jfit._factor_metric(v @ v.T, _Quiet())
    assert jfit._cho is None
    b = v @ np.array([1.0, -2.0])             # in the range of the metric
    assert abs(v @ v.T @ jfit._solve_metric(b) - b).max() < 1e-10


class _Quiet:
    def info(self, *args):
        pass


@pytest.mark.parametrize('deriv', [0, 1])
@pytest.mark.parametrize('max_memory', [4000, 1e-3])   # kept, and made again at every pass
def test_sparse_ao_grid_matches_dense(deriv, max_memory):
    mol = _chain(24, spacing=2.0)     # an AO reaches ~8 A (PySCF's 1e-15 value cutoff)
    grids = dft.gen_grid.Grids(mol)
    grids.level = 1
    grids.build()
    aogrid = SparseAOGrid(mol, grids.coords, deriv, max_memory)
    assert (aogrid._cache is None) == (max_memory < 1)
    ao = dft.numint.eval_ao(mol, grids.coords, deriv=deriv)
    rng = np.random.default_rng(4)
    a = rng.normal(size=mol.nao)
    dm = _random_dm(mol, 5)
    assert abs(aogrid.values(a) - ao @ a).max() < 1e-12
    ao0 = ao[0] if deriv else ao
    assert abs(aogrid.density(dm) - np.einsum('gi,ij,gj->g', ao0, dm, ao0)).max() < 1e-12
    f = rng.normal(size=grids.weights.size)
    assert abs(aogrid.project(f) - ao0.T @ f).max() < 1e-10
    v = rng.normal(size=(4, f.size) if deriv else f.size)
    if deriv:
        psi = ao @ a
        ref = ao[0].T @ (v[0] * psi[0] + np.einsum('xg,xg->g', v[1:], psi[1:]))
        ref += np.einsum('xgi,xg->i', ao[1:], v[1:] * psi[0])
    else:
        ref = ao.T @ (v * (ao @ a))
    assert abs(aogrid.fock_vec(aogrid.values(a), v) - ref).max() < 1e-10
    if max_memory > 1:    # the chain is longer than an AO's range: most values are not stored
        stored = sum(b[3][0].size if deriv else b[3].size for b in aogrid._cache)
        assert stored < 0.6 * ao0.size


@pytest.mark.parametrize('xc', ['lda,vwn', 'pbe'])
def test_density_fitted_gradient_finite_difference(xc):
    mol = gto.M(atom='Li 0 0 0; H 0 0 1.6', basis='unc-6-31g', verbose=0)
    of = OFDFT(mol, kinetic='tf+1/9vw', xc=xc)
    of.density_fit = True
    of.grids.level = 1
    of.build()
    rng = np.random.default_rng(6)
    a = of.get_init_guess() + 0.05 * rng.normal(size=mol.nao)
    d = rng.normal(size=mol.nao)
    d /= np.linalg.norm(d)
    g = of.energy_and_grad(a)[1]

    def fd(h):
        return (of.energy_and_grad(a + h * d)[0] - of.energy_and_grad(a - h * d)[0]) / (2 * h)
    num = (4 * fd(1e-4) - fd(2e-4)) / 3
    assert abs(num - g @ d) / abs(g @ d) < 1e-6


def test_density_fitted_energy_close_to_exact_coulomb():
    '''The fitting error of J at an OF minimum is small and of the sign a Coulomb-metric fit
    gives (it underestimates J).'''
    mol = gto.M(atom='Li 0 0 0; H 0 0 1.6', basis='unc-cc-pvdz', verbose=0)
    e = {}
    for dfit in (False, True):
        of = OFDFT(mol, kinetic='tf+1/9vw', xc='lda,vwn')
        of.density_fit = dfit
        of.grids.level = 2
        e[dfit] = of.kernel()
        assert of.converged
    # measured -6.1e-6 Ha
    assert -1e-4 < e[True] - e[False] < 0


def test_ghost_atom_cartesian_shuffled_and_memory_fallback():
    '''Atoms out of spatial order, a ghost atom, cartesian d shells; then the same J from
    PySCF's DF object when the kept integrals exceed max_memory.'''
    mol = gto.M(atom='H 0 0 3.0; O 0 0 0; ghost-H 0 0 6.0; H 0 0.76 0.59; H 0 -0.76 0.59',
                basis='6-31g*', cart=True, charge=1, verbose=0)
    dm = _random_dm(mol, 7)
    vj_ref = scf.RHF(mol).density_fit().get_j(mol, dm)
    assert abs(ScreenedDFJ(mol).get_j(dm) - vj_ref).max() < 1e-11
    small = ScreenedDFJ(mol, max_memory=1e-3)
    assert small._pyscf_df is not None
    assert abs(small.get_j(dm) - vj_ref).max() < 1e-11
    a = dm[0]
    e_j, ja = small.rank_one(a, 2.0)
    vj = scf.RHF(mol).density_fit().get_j(mol, 2.0 * np.outer(a, a))
    assert abs(ja - vj @ a).max() < 1e-11 and abs(e_j - a @ vj @ a) < 1e-11
    grids = dft.gen_grid.Grids(mol)
    grids.level = 1
    grids.build()
    aogrid = SparseAOGrid(mol, grids.coords, deriv=1)
    ao = dft.numint.eval_ao(mol, grids.coords, deriv=1)
    assert abs(aogrid.values(a) - ao @ a).max() < 1e-12
