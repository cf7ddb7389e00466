'''Trust-region SCF-in-the-loop training (pyscf_ml.train.frozen_density).

- At the SCF point the frozen-density model has the SCF loss's value and exact gradient.
- Its energy error against a new SCF is second order in the step (E_KS is stationary).
- A trust-region step that is accepted lowers the self-consistent loss; a rejected one restores
  the weights exactly.
- The CLI: held-out G2-1 selection, checkpoint/resume, a card that records the selection, and
  refusals of overlapping or G2-2 held-out molecules.
'''
import json

import numpy as np
import pytest
import torch
from test_xc_scf_training import _h2_references

import pyscf_ml  # noqa: F401  (registers the nn-* names)
from pyscf_ml import weights
from pyscf_ml.train.frozen_density import FrozenDensityModel, trust_region_step
from pyscf_ml.train.scf_loop import flat_grad
from pyscf_ml.train.xc_scf import SCFLoss
from pyscf_ml.xc.forms import NagaiMLP, form_spec
from pyscf_ml.xc.weights_io import load_state_dict


def _setup(form, basis='def2-svp'):
    loss = SCFLoss(form, _h2_references(basis), grid_level=1, density_fit=False,
                   conv_tol=1e-14, energy_weight=1.0, density_weight=1e6)
    for s in loss.systems.values():
        s.mf.conv_tol_grad = 1e-11
    net = NagaiMLP(form_spec(form).n_features).double()
    net.load_state_dict(load_state_dict(weights.path(form.replace('-', '_') + '.pt'), form))
    return loss, net


def _unit_direction(net, seed=0):
    torch.manual_seed(seed)
    u = torch.randn(sum(p.numel() for p in net.parameters()), dtype=torch.float64)
    return u / u.norm()


@pytest.mark.parametrize('form', ['nn-metagga', 'nn-nra'])
def test_model_matches_scf_loss_and_gradient_at_its_point(form):
    loss, net = _setup(form)
    try:
        value, parts = loss(net)
        assert parts['loss_density'] > 0.1 * value   # both terms are really compared
        grad = flat_grad(net).clone()
        model = FrozenDensityModel(loss, net, parts)
        assert abs(model(net) - value) <= 1e-10 * abs(value)
        assert torch.allclose(flat_grad(net), grad, rtol=0, atol=1e-9 * float(grad.abs().max()))
    finally:
        loss.close()


def test_model_gradient_equals_finite_difference_away_from_its_point():
    '''At a displaced theta (where value and gradient are no longer copies of the SCF ones) the
    model's gradient, energy and density parts both, equals a central difference.'''
    loss, net = _setup('nn-nra')
    try:
        _, parts = loss(net)
        model = FrozenDensityModel(loss, net, parts)
        assert model.density   # the density part is in the model
        theta = model.theta_k + 0.05 * _unit_direction(net, seed=1)
        torch.nn.utils.vector_to_parameters(theta.clone(), net.parameters())
        model(net)
        grad = torch.cat([p.grad.reshape(-1) for p in net.parameters()])
        u = _unit_direction(net, seed=2)
        h, values = 1e-4, []
        for sign in (1, -1):
            torch.nn.utils.vector_to_parameters(theta + sign * h * u, net.parameters())
            values.append(model(net, grad=False))
        fd = (values[0] - values[1]) / (2 * h)
        assert abs(fd - float(grad @ u)) <= 1e-6 * abs(fd), (fd, float(grad @ u))
    finally:
        loss.close()


def test_frozen_energy_error_is_second_order_in_the_step():
    '''E_SCF(theta + h u) - E_frozen(theta + h u) ~ h^2, while the change itself is ~ h.'''
    loss, net = _setup('nn-nra')
    try:
        _, parts = loss(net)
        model = FrozenDensityModel(loss, net, parts)
        theta0 = torch.nn.utils.parameters_to_vector(net.parameters()).detach().clone()
        u = _unit_direction(net)
        errors, changes = [], []
        for h in (0.2, 0.1):
            torch.nn.utils.vector_to_parameters(theta0 + h * u, net.parameters())
            e_model = model.frozen['H2'].total_energy(net)
            loss(net, grad=False)
            e_scf = loss.systems['H2'].e_tot
            errors.append(abs(e_scf - e_model))
            changes.append(abs(e_model - model.frozen['H2'].e_scf))
        ratio = errors[0] / errors[1]
        assert 3.5 < ratio < 4.5, (errors, ratio)
        assert changes[1] > 100 * errors[1], (changes, errors)
    finally:
        loss.close()


def test_trust_region_step_lowers_the_loss_or_restores_the_weights():
    loss, net = _setup('nn-metagga')
    try:
        value, parts = loss(net)
        theta0 = torch.nn.utils.parameters_to_vector(net.parameters()).detach().clone()
        state, accepted, info = trust_region_step(loss, net, dict(loss=value, parts=parts,
                                                                  mu=1e2), max_iter=10)
        assert accepted and state['loss'] < value and info['ratio'] >= 0.1
        assert info['step_norm'] > 0
        # the state's loss is the self-consistent loss at the weights left in the network
        assert abs(loss(net, grad=False)[0] - state['loss']) <= 1e-8 * state['loss']

        # a proposal whose SCF loss comes out higher than at theta_k is rejected
        torch.nn.utils.vector_to_parameters(theta0.clone(), net.parameters())
        value, parts = loss(net)

        class Worse:
            def __init__(self, inner):
                self.inner = inner

            def __getattr__(self, name):
                return getattr(self.inner, name)

            def __call__(self, net, grad=True):
                v, p = self.inner(net, grad)
                return v + 10 * value, p

        state, accepted, info = trust_region_step(Worse(loss), net,
                                                  dict(loss=value, parts=parts, mu=1e2),
                                                  max_iter=10)
        assert not accepted and info['ratio'] < 0
        assert state['mu'] == 1e3 and state['loss'] == value and 'model' in state
        assert torch.equal(torch.nn.utils.parameters_to_vector(net.parameters()), theta0)
    finally:
        loss.close()


def test_cli_selects_on_held_out_molecules_and_resumes(tmp_path, monkeypatch):
    from pyscf_ml.data import xc_reference
    from pyscf_ml.train import xc as train_xc
    ref = tmp_path / 'ref.npz'
    xc_reference.main(['--molecules', 'LiH', '--basis', 'sto-3g', '--out', str(ref)])
    out, ckpt, log = tmp_path / 'w.pt', tmp_path / 'w.ckpt', tmp_path / 'log'
    common = ['--form', 'nn-gga', '--reference', str(ref), '--out', str(out), '--grid-level', '0',
              '--optimizer', 'trust-region', '--mu', '10', '--inner-iter', '5',
              '--held-out', 'Li2', '--checkpoint', str(ckpt), '--resume', '--log', str(log)]
    assert train_xc.main(common + ['--steps', '2', '--time-limit', '1e-9']) == 3   # stops at 1
    assert not out.exists()
    assert train_xc.main(common + ['--steps', '2']) == 0
    assert [line.split()[0] for line in log.read_text().splitlines()] == ['[1/2]', '[2/2]']
    card = json.loads((tmp_path / 'w.json').read_text())
    hyper, metrics = card['hyperparameters'], card['metrics']
    assert hyper['selection'] == 'lowest held-out G2-1 MAE'
    assert metrics['held_out_molecules'] == ['Li2']
    history = torch.load(ckpt, weights_only=False)['history']
    maes = [h['held_out']['mae'] for h in history if h['held_out']]
    assert history[0]['accepted'] and len(maes) >= 1
    assert set(history[-1]['ae_error']) == {'LiH'}
    assert metrics['held_out_mae_kcal'] == pytest.approx(min(maes))
    assert metrics['held_out_mae_initial_kcal'] == pytest.approx(maes[0])
    assert np.isfinite(metrics['loss'])
    # a finished run resumed writes its selection again without another SCF round
    out.unlink()
    def no_scf(*args, **kwargs):
        raise AssertionError('an SCF round ran')
    with monkeypatch.context() as patch:
        patch.setattr(SCFLoss, '__call__', no_scf)
        assert train_xc.main(common + ['--steps', '2']) == 0 and out.exists()
    # a resume must select on the same held-out molecules
    with pytest.raises(SystemExit, match='resume with the same --held-out'):
        train_xc.main(common[:-7] + ['--held-out', 'Na2', '--checkpoint', str(ckpt),
                                     '--resume', '--steps', '3'])
    # the held-out molecules never overlap the training set, and never come from G2-2
    with pytest.raises(SystemExit, match='in the training set'):
        train_xc.main(common[:-7] + ['--held-out', 'LiH', '--steps', '1'])
    with pytest.raises(SystemExit, match='G2-2 is the test set'):
        train_xc.main(common[:-7] + ['--held-out', 'H2', '--steps', '1'])
    # a checkpoint of one optimiser is not resumed by the other
    with pytest.raises(SystemExit, match='--optimizer trust-region'):
        train_xc.main(['--form', 'nn-gga', '--reference', str(ref), '--out', str(out),
                       '--grid-level', '0', '--checkpoint', str(ckpt), '--resume', '--steps', '3'])
