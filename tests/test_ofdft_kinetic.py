'''Kinetic functionals: derivatives against finite differences, parsing, plug-in interface.'''
import numpy as np
import pytest
import torch
from pyscf import dft, gto

from pyscf_ml.ofdft import OFDFT, kinetic
from pyscf_ml.ofdft.kineticnet import KineticNet, KineticNetMean
from pyscf_ml.ofdft.learned import KineticNetFunctional


@pytest.fixture(scope='module')
def lih_density():
    '''LiH KS density (rho, grad rho) on a coarse grid and a smooth perturbation.'''
    mol = gto.M(atom='Li 0 0 0; H 0 0 1.6', basis='unc-6-31g', verbose=0)
    ks = dft.RKS(mol, xc='lda,vwn').run()
    grids = dft.gen_grid.Grids(mol)
    grids.level = 1
    grids.build(with_non0tab=False)
    ao = mol.eval_gto('GTOval_sph_deriv1', grids.coords)
    rho = dft.numint.eval_rho(mol, ao, ks.make_rdm1(), xctype='GGA')
    # delta rho: a Gaussian between the atoms (value and gradient)
    c = np.array([0, 0, 1.2])
    dr = grids.coords - c
    g = np.exp(-0.8 * np.einsum('gx,gx->g', dr, dr))
    drho = np.vstack([g, -1.6 * dr.T * g])
    return kinetic.GridData(mol, grids.coords, grids.weights), rho, drho


def _check_derivative(func, grid, rho, drho):
    gga = func.xctype == 'GGA'
    r, d = (rho, drho) if gga else (rho[0], drho[0])
    e0, v = func.energy_and_potential(r, grid)
    # GGA: v holds (dE/drho, dE/dgrad) and d the matching (drho, dgrad) components
    exact = np.dot(grid.weights, (v * d).sum(axis=0)) if gga else np.dot(grid.weights, v * d)

    def fd(h):
        return (func.energy_and_potential(r + h * d, grid)[0] -
                func.energy_and_potential(r - h * d, grid)[0]) / (2 * h)
    num = (4 * fd(1e-4) - fd(2e-4)) / 3
    return e0, abs(num - exact) / abs(exact)


@pytest.mark.parametrize('name', ['tf', 'vw-grid'])
def test_classical_derivative_finite_difference(name, lih_density):
    grid, rho, drho = lih_density
    e0, err = _check_derivative(kinetic.GRID_FUNCTIONALS[name](), grid, rho, drho)
    assert e0 > 0
    assert err < 1e-6


@pytest.mark.parametrize('gradient', [False, True])
def test_kineticnet_derivative_finite_difference(lih_density, gradient):
    grid, rho, drho = lih_density
    torch.manual_seed(0)
    func = KineticNetFunctional(model=KineticNet(species=(1, 3), n_radial=6, mul=3,
                                                 gradient=gradient), device='cpu')
    assert func.xctype == ('GGA' if gradient else 'LDA')
    e0, err = _check_derivative(func, grid, rho, drho)
    assert e0 > 0                       # Pauli term is non-negative by construction
    assert err < 1e-6


@pytest.mark.parametrize('gradients', [(False, False), (False, True)])
def test_kineticnet_mean_is_the_members_mean(lih_density, gradients):
    '''The ensemble's energy is the mean of its members' (a density-only and a gradient
    member together included), and its potential passes the finite-difference check.'''
    grid, rho, drho = lih_density
    members = []
    for seed, gradient in enumerate(gradients):
        torch.manual_seed(seed)
        members.append(KineticNet(species=(1, 3), n_radial=6, mul=3, gradient=gradient))
    func = KineticNetFunctional(model=KineticNetMean(members), device='cpu')
    assert func.xctype == ('GGA' if any(gradients) else 'LDA')
    e_members = [KineticNetFunctional(model=m, device='cpu').energy_and_potential(
        rho if m.gradient else rho[0], grid)[0] for m in members]
    e0, err = _check_derivative(func, grid, rho, drho)
    assert abs(e0 - np.mean(e_members)) < 1e-12 * abs(e0)
    assert abs(e_members[0] - e_members[1]) > 1e-3 * abs(e0)   # members really differ
    assert err < 1e-6
    with pytest.raises(ValueError, match='at least two'):
        KineticNetMean(members[:1])


def test_vw_grid_agrees_with_analytic_vw():
    """For one density rho = N psi^2 (the converged HeH+ TF+vW density) the grid vW functional
    equals the analytic Tr(T D) the solver uses, up to quadrature error: measured -2.9e-6 Ha
    at grid level 3, -7.4e-8 at level 5 (2026-11-24)."""
    mol = gto.M(atom='H 0 0 0; He 0 0 1.5', charge=1, basis='unc-6-31g', verbose=0)
    of = OFDFT(mol, kinetic='tf+vw')
    of.kernel()
    grids = dft.gen_grid.Grids(mol)
    grids.level = 5
    grids.build(with_non0tab=False)
    ao = mol.eval_gto('GTOval_sph_deriv1', grids.coords)
    rho = dft.numint.eval_rho(mol, ao, of.make_rdm1(), xctype='GGA')
    e_grid = kinetic.GRID_FUNCTIONALS['vw-grid']().energy_and_potential(
        rho, kinetic.GridData(mol, grids.coords, grids.weights))[0]
    assert of.scf_summary['kinetic_vw'] > 0.5
    assert abs(e_grid - of.scf_summary['kinetic_vw']) < 2e-7


def test_parse():
    k = kinetic.parse('tf+1/9vw')
    assert abs(k.vw_coeff - 1 / 9) < 1e-15 and k.terms[0][0] == 1.0
    assert kinetic.parse('vw').has_grid_part is False
    assert abs(kinetic.parse('0.5*tf+2vw').terms[0][0] - 0.5) < 1e-15
    with pytest.raises(ValueError, match='unknown kinetic functional'):
        kinetic.parse('tf+lc94')
    with pytest.raises(ValueError):
        kinetic.parse('')


def test_user_plugin_functional():
    '''A user-defined functional through the shared interface: 2 TF (+ the analytic vW
    every functional object carries, vw_coeff 1) must equal '2tf+vw'.'''
    class DoubleTF(kinetic.KineticFunctional):
        name = 'double-tf'
        vw_coeff = 1.0

        def energy_and_potential(self, rho, grid):
            e, v = kinetic.ThomasFermi().energy_and_potential(rho, grid)
            return 2 * e, 2 * v
    mol = gto.M(atom='He 0 0 0', basis='unc-6-31g', verbose=0)
    e1 = OFDFT(mol, kinetic=DoubleTF()).kernel()
    e2 = OFDFT(mol, kinetic='2tf+vw').kernel()
    assert abs(e1 - e2) < 1e-9


def test_lda_plugin_with_gga_xc():
    '''A plug-in with xctype 'LDA' gets rho as (ng,) even when the XC functional is a GGA
    (the solver's own rho is then (4, ng)); its energy and total gradient are right there.'''
    class PlainTF(kinetic.KineticFunctional):
        name = 'plain-tf'
        xctype = 'LDA'

        def energy_and_potential(self, rho, grid):
            assert rho.ndim == 1          # written for (ng,) only, like the docs promise
            r = np.maximum(rho, 0)
            return kinetic.C_F * np.dot(grid.weights, r**(5 / 3)), 5 / 3 * kinetic.C_F * r**(2 / 3)
    mol = gto.M(atom='Li 0 0 0; H 0 0 1.6', basis='unc-6-31g', verbose=0)
    ref = OFDFT(mol, kinetic='tf', xc='pbe')
    ref.grids.level = 1
    of = OFDFT(mol, kinetic=PlainTF(), xc='pbe')
    of.grids = ref.grids
    ref.build()
    a = ref.get_init_guess()
    e_ref, g_ref, _ = ref.energy_and_grad(a)
    e, g, _ = of.energy_and_grad(a)
    assert abs(e - e_ref) < 1e-12 and np.abs(g - g_ref).max() < 1e-10

    class WrongShape(PlainTF):
        def energy_and_potential(self, rho, grid):
            e, v = super().energy_and_potential(rho, grid)
            return e, v[None]
    with pytest.raises(TypeError, match='returned a potential of shape'):
        OFDFT(mol, kinetic=WrongShape(), xc='pbe').kernel()
