'''Trust-region steps for SCF-in-the-loop training: many cheap inner steps at frozen densities,
one SCF round per outer step.

Each SCF round at theta_k gives the self-consistent densities D_s and the loss L(theta_k) with its
exact gradient (``pyscf_ml.train.xc_scf.SCFLoss``).  Between rounds the loss is modelled with
every density frozen:

    E_s(theta) ~ E_s(theta_k) + E_xc[D_s; theta] - E_xc[D_s; theta_k]

which is exact to second order in the density change because E_KS is stationary in D.  Each
molecule's density term L_m = r_m^2 is modelled as the square of its residual norm r_m
linearised in theta (a rank-one Gauss-Newton model):

    L_m(theta) ~ (r_m + g_m . (theta - theta_k) / (2 r_m))^2,   g_m = dL_m/dtheta (exact, adjoint)

which, unlike the linearised L_m, cannot fall below zero.  The model has the SCF loss's value and
exact gradient at theta_k.  At a frozen density the descriptors are fixed
(NN-NRA's R included), so an evaluation is one pass of the network over the stored grid points,
about as cheap as one SCF cycle, and L-BFGS can take tens of them per SCF round.

The proposal minimises model + mu/2 |theta - theta_k|^2.  The next SCF round then measures the
loss at the proposal; it is accepted if the loss fell by at least a tenth of the predicted
decrease (mu shrinks when the model predicted well, grows after a rejection), the usual trust-
region rule.  Every accepted point has been evaluated self-consistently.
'''
import numpy as np
import torch

from pyscf_ml.train.scf_loop import KernelApply, SCFNotConverged
from pyscf_ml.xc.forms import SpinDensities, eps_xc_factors

CHUNK = 200_000   # grid points per network pass (bounds the memory of the backward pass)


class FrozenSystem:
    '''E_xc[D; theta] = sum_g c_g G_theta(x_g) at the density of a system's last SCF.'''

    def __init__(self, system, net):
        spec = system.spec
        with torch.no_grad():
            d = SpinDensities.from_pyscf_rho(system.x0, system.spin)
            n = d.n_a + d.n_b
            R = KernelApply.apply(system.w * n, system.kernel) if spec.nonlocal_ else None
            x, prefactor, mask = eps_xc_factors(net, spec.n_features, d, R)
            self.x = x[mask].contiguous()
            self.c = (system.w * n * prefactor)[mask]
        self.e_scf = system.e_tot
        with torch.no_grad():
            self.exc0 = float(self.energy(net))

    def energy(self, net):
        '''E_xc(theta), differentiable in the network's parameters.'''
        return sum((c * net(x)).sum() for x, c in zip(self.x.split(CHUNK), self.c.split(CHUNK)))

    def total_energy(self, net):
        with torch.no_grad():
            return self.e_scf + float(self.energy(net)) - self.exc0


class FrozenDensityModel:
    '''The training loss of ``SCFLoss`` with the densities of its last round frozen.

    ``parts``: the parts returned by that round (its ``frozen`` systems and
    ``density_terms``), ``net`` at theta_k.'''

    def __init__(self, loss_fn, net, parts):
        self.loss_fn = loss_fn
        self.frozen = parts['frozen']
        self.theta_k = torch.nn.utils.parameters_to_vector(net.parameters()).detach().clone()
        # (r_m, g_m / 2 r_m) of each molecule's density term (absent without a density term)
        self.density = [(np.sqrt(v), g / (2 * np.sqrt(v)))
                        for v, g in parts['density_terms'].values() if v > 0]

    def __call__(self, net, grad=True):
        '''Model loss at the network's parameters; with ``grad`` its gradient in net's .grad.'''
        energies = {n: f.total_energy(net) for n, f in self.frozen.items()}
        loss, _, dl_de = self.loss_fn.energy_loss(energies)
        delta = torch.nn.utils.parameters_to_vector(net.parameters()).detach() - self.theta_k
        residuals = [r + float(j @ delta) for r, j in self.density]
        loss += sum(r * r for r in residuals)
        if grad:
            # a second pass, with the graph: keeping every system's graph from the first would
            # hold the activations of all grid points at once
            net.zero_grad()
            for name, f in self.frozen.items():
                if dl_de[name]:
                    (dl_de[name] * f.energy(net)).backward()
            if self.density:
                _add_to_grad(net, sum(2 * r * j for r, (_, j) in zip(residuals, self.density)))
        return loss


def _add_to_grad(net, vector):
    offset = 0
    for p in net.parameters():
        k = p.numel()
        v = vector[offset:offset + k].view_as(p)
        if p.grad is None:   # (zero_grad leaves None where no backward ran)
            p.grad = v.clone()
        else:
            p.grad += v
        offset += k


def propose(model, net, mu, max_iter=30):
    '''Minimise model + mu/2 |theta - theta_k|^2 with L-BFGS from theta_k; leaves the proposal
    in ``net`` and returns the model's predicted loss there (without the proximal term).'''
    opt = torch.optim.LBFGS(net.parameters(), lr=1, max_iter=max_iter, history_size=20,
                            line_search_fn='strong_wolfe', tolerance_grad=1e-9,
                            tolerance_change=1e-12)
    theta_k = model.theta_k

    def closure():
        value = model(net)
        delta = torch.nn.utils.parameters_to_vector(net.parameters()).detach() - theta_k
        _add_to_grad(net, mu * delta)
        return torch.as_tensor(value + 0.5 * mu * float(delta @ delta), dtype=torch.float64)

    opt.step(closure)
    return model(net, grad=False)


def trust_region_step(loss_fn, net, state, mu_min=1e-3, max_iter=30):
    """One outer step from ``state`` = dict(loss, parts, mu[, model]) at theta_k (the network's
    parameters on entry): propose from the frozen-density model, run the SCF round at the
    proposal, accept or reject.  Returns (new state, accepted, info); on rejection ``net`` is
    back at theta_k and the state keeps its model (made from theta_k's round; the rejected
    proposal's round does not change it)."""
    model = state.get('model') or FrozenDensityModel(loss_fn, net, state['parts'])
    predicted = propose(model, net, state['mu'], max_iter)
    decrease = state['loss'] - predicted
    theta = torch.nn.utils.parameters_to_vector(net.parameters()).detach().clone()
    step_norm = float((theta - model.theta_k).norm())
    info = dict(predicted=predicted, mu=state['mu'], step_norm=step_norm)
    info.update(actual=None, ratio=-np.inf)
    if decrease > 0:   # (no descent in the model: rejected without an SCF round)
        try:
            loss, parts = loss_fn(net)    # the SCF round at the proposal (exact gradient too)
        except SCFNotConverged as err:    # a proposal that breaks an SCF is rejected
            loss, parts, info['scf_failed'] = np.inf, None, str(err)
        info.update(actual=loss, ratio=(state['loss'] - loss) / decrease)
        if info['ratio'] >= 0.1:
            mu = max(mu_min, state['mu'] / 3) if info['ratio'] > 0.75 else state['mu']
            return dict(loss=loss, parts=parts, mu=mu), True, info
    # (a copy: vector_to_parameters makes the parameters views of the vector it is given)
    torch.nn.utils.vector_to_parameters(model.theta_k.clone(), net.parameters())
    return dict(state, mu=state['mu'] * 10, model=model), False, info
