'''benchmarks/xc_linear_generalisation.py: the maths of the linear screen.

- Its atomization-energy Jacobian is the derivative of its AE errors (a finite difference of the
  same function along a random direction), with the AE's sign and units.
- Its ridge step is the stationary point of mean (e + J d)^2 + mu/2 |d|^2.
- Its density rows are the trainer's rank-one model (``FrozenDensityModel``) with the trainer's
  scaling, and the combined step minimises energy term + density term + mu/2 |d|^2.
- Its density term must come from exactly the split's training molecules.
(The density gradients themselves come from the trainer's adjoint code, whose gradient
``tests/test_xc_scf_training.py`` checks against a finite difference.)
'''
import numpy as np
import pytest

pytest.importorskip('ase')

from conftest import load_benchmark_script  # noqa: E402

from pyscf_ml.data import g2  # noqa: E402


@pytest.fixture(scope='module')
def screen():
    return load_benchmark_script('xc_linear_generalisation')


def test_jacobian_is_the_derivative_of_the_errors(screen):
    '''Energies linear in theta, E_s(theta) = E_s + g_s . theta: errors_and_jacobian's J must
    equal the change of its own errors, and an AE that grows when the molecule's energy falls.'''
    rng = np.random.default_rng(0)
    molecules = ['H2O', 'NH3', 'CO']
    systems = ['H2O', 'NH3', 'CO', 'H', 'N', 'O', 'C']
    base = {n: -10 * rng.random() for n in systems}
    grads = {n: rng.standard_normal(7) for n in systems}

    def done_at(theta):
        d = {f'{n}/e': np.array(base[n] + grads[n] @ theta) for n in systems}
        d.update({f'{n}/g': grads[n] for n in systems})
        return d
    e0, J = screen.errors_and_jacobian(done_at(np.zeros(7)), molecules)
    u = rng.standard_normal(7)
    e1, _ = screen.errors_and_jacobian(done_at(1e-3 * u), molecules)
    assert np.allclose((e1 - e0) / 1e-3, J @ u, rtol=1e-6, atol=1e-9)
    # lowering the molecule's energy by 1 mHa raises its AE by 0.6275 kcal/mol
    lowered = done_at(np.zeros(7))
    lowered['H2O/e'] = lowered['H2O/e'] - 1e-3
    e2, _ = screen.errors_and_jacobian(lowered, molecules)
    assert e2[0] - e0[0] == pytest.approx(1e-3 * g2.HARTREE_TO_KCAL, rel=1e-9)
    assert np.allclose(e2[1:], e0[1:])


@pytest.mark.parametrize('mu', [1e-6, 1.0, 1e4])
def test_ridge_step_is_the_minimiser(screen, mu):
    rng = np.random.default_rng(1)
    J, e = rng.standard_normal((8, 30)), rng.standard_normal(8)
    d = screen.ridge_step(e, J, mu)
    grad = 2 * J.T @ (e + J @ d) / len(e) + mu * d
    assert np.abs(grad).max() < 1e-10 * max(1.0, np.abs(J.T @ e).max())


def test_density_rows_match_the_loss_and_its_gradient(screen):
    '''The rank-one model (r + a.d)^2 has each density term's value and gradient at d = 0.'''
    rng = np.random.default_rng(2)
    loss, grad = rng.random(4) * 1e-3, rng.standard_normal((4, 9))
    r, A = screen.density_rows(loss, grad)
    assert np.allclose(r ** 2, loss, rtol=1e-14)
    assert np.allclose(2 * r[:, None] * A, grad, rtol=1e-14)


@pytest.mark.parametrize('weights', [(1.0, 0.0), (1.0, 1e3), (0.0, 5.0)])
def test_combined_step_is_the_minimiser(screen, weights):
    '''energy_weight mean (e + J d)^2 + density_weight mean (r + A d)^2 + mu/2 |d|^2 is
    stationary at the combined step, and without a density term it is the ridge step.'''
    ew, dw = weights
    rng = np.random.default_rng(3)
    J, e = rng.standard_normal((6, 20)), rng.standard_normal(6)
    A, r = rng.standard_normal((3, 20)), rng.random(3)
    mu = 0.7
    d = screen.combined_step(e, J, r, A, dw, mu, energy_weight=ew)
    grad = (2 * ew * J.T @ (e + J @ d) / len(e) + 2 * dw * A.T @ (r + A @ d) / len(r)
            + mu * d)
    assert np.abs(grad).max() < 1e-10
    if dw == 0:
        assert np.allclose(d, screen.ridge_step(e, J, mu), atol=1e-14)


def test_density_rows_are_the_trainers_model(screen):
    '''With SCFLoss's scaling (terms stored as (w/n L_m, w/n g_m)), FrozenDensityModel's density
    part at theta_k + d equals w/n sum_m (r_m + a_m . d)^2 from the screen's rows.'''
    import torch

    from pyscf_ml.train.frozen_density import FrozenDensityModel

    class NoEnergy:
        def energy_loss(self, energies):
            return 0.0, {}, {}
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2).double()
    nparam = sum(p.numel() for p in net.parameters())
    rng = np.random.default_rng(4)
    w, loss, grad = 50.0, rng.random(3) * 1e-3, rng.standard_normal((3, nparam)) * 1e-3
    n = len(loss)
    terms = {f'm{k}': (w / n * loss[k], torch.as_tensor(w / n * grad[k])) for k in range(n)}
    model = FrozenDensityModel(NoEnergy(), net, dict(frozen={}, density_terms=terms))
    d = rng.standard_normal(nparam) * 1e-2
    theta = torch.nn.utils.parameters_to_vector(net.parameters()).detach()
    torch.nn.utils.vector_to_parameters(theta + torch.as_tensor(d), net.parameters())
    r, A = screen.density_rows(loss, grad)
    assert model(net, grad=False) == pytest.approx(w / n * np.sum((r + A @ d) ** 2), rel=1e-12)


def test_density_molecules_must_be_the_training_set(screen):
    training = ['CH4', 'H2O', 'CO']
    assert screen.check_density_molecules(['CO', 'CH4', 'H2O'], training) == training
    with pytest.raises(SystemExit, match='not training molecules .*NH3'):
        screen.check_density_molecules(['CO', 'CH4', 'H2O', 'NH3'], training)
    with pytest.raises(SystemExit, match='missing .*H2O'):
        screen.check_density_molecules(['CO', 'CH4'], training)
    with pytest.raises(ValueError, match='both 0'):
        screen.combined_step(np.ones(2), np.ones((2, 3)), np.ones(1), np.ones((1, 3)), 0.0, 1.0,
                             energy_weight=0.0)
