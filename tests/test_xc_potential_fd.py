'''The XC potential is the derivative of the XC energy: dE/dD . dD == tr(V_xc dD).

Every form (the whole-grid NN-NRA included), RKS and UKS, with the shipped weights, at a MINAO
density and a random symmetric direction; central differences.
'''
import numpy as np
import pytest
from pyscf import dft, gto

import pyscf_ml  # noqa: F401

FORMS = ['nn-lsda', 'nn-gga', 'nn-metagga', 'nn-nra']


def _setup(spin):
    atom = ('O 0 0 0.1173; H 0 0.7572 -0.4692; H 0 -0.7572 -0.4692' if spin == 0
            else 'N 0 0 0; H 0 0 1.03; H 0.99 0 -0.26')   # NH2 radical
    mol = gto.M(atom=atom, spin=spin, basis='6-31g', verbose=0)
    mf = (dft.RKS if spin == 0 else dft.UKS)(mol)
    grids = dft.gen_grid.Grids(mol)
    grids.level = 1
    grids.build()
    dm0 = mf.get_init_guess(key='minao')
    rng = np.random.default_rng(7)
    delta = rng.normal(size=dm0.shape) * 1e-2
    delta = delta + delta.swapaxes(-1, -2)
    return mol, grids, dm0, delta


@pytest.mark.parametrize('spin', [0, 1])
@pytest.mark.parametrize('xc', FORMS)
def test_potential_is_energy_derivative(xc, spin):
    mol, grids, dm0, delta = _setup(spin)
    ni = dft.numint.NumInt()
    evaluate = ni.nr_rks if spin == 0 else ni.nr_uks
    _, _, vxc = evaluate(mol, grids, xc, dm0)
    h = 1e-4
    e_plus = evaluate(mol, grids, xc, dm0 + h * delta)[1]
    e_minus = evaluate(mol, grids, xc, dm0 - h * delta)[1]
    numeric = (e_plus - e_minus) / (2 * h)
    analytic = np.einsum('...ij,...ij', vxc, delta).sum()
    assert abs(numeric - analytic) <= 1e-6 * abs(analytic)


@pytest.mark.parametrize('xc', ['nn-lsda', 'nn-gga', 'nn-metagga'])
def test_second_derivative_is_potential_derivative(xc):
    '''fxc (used by SOSCF and TDDFT) against differences of vxc, per grid point, UKS layout.'''
    mol, grids, dm0, delta = _setup(1)
    ni = dft.numint.NumInt()
    xctype = ni._xc_type(xc)
    ao = ni.eval_ao(mol, grids.coords[:2000], deriv=0 if xctype == 'LDA' else 1)
    rho = np.array([ni.eval_rho(mol, ao, dm, xctype=xctype, with_lapl=False) for dm in dm0])
    drho = np.array([ni.eval_rho(mol, ao, dm, xctype=xctype, with_lapl=False)
                     for dm in delta]) * 1e-2
    _, v, f, _ = ni.eval_xc_eff(xc, rho, deriv=2, xctype=xctype)
    h = 1e-4
    vp = ni.eval_xc_eff(xc, rho + h * drho, deriv=1, xctype=xctype)[1]
    vm = ni.eval_xc_eff(xc, rho - h * drho, deriv=1, xctype=xctype)[1]
    numeric = (vp - vm) / (2 * h)
    nvar = rho.shape[1] if rho.ndim == 3 else 1
    analytic = np.einsum('aibjg,bjg->aig', f.reshape(2, nvar, 2, nvar, -1),
                         drho.reshape(2, nvar, -1)).reshape(numeric.shape)
    assert np.linalg.norm(numeric - analytic) <= 1e-6 * np.linalg.norm(analytic)
