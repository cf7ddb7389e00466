'''Fit an nn-* functional to a conventional functional's XC energy density (first stage).

The network keeps its published form (eps_xc = -G(log t) n^(1/3) t1); G is fitted so that
n eps_xc reproduces the target's energy density on the grid points of
``python -m pyscf_ml.data xc-grid``, in the quadrature-weighted least-squares sense.

    python -m pyscf_ml.train xc --form nn-gga --data data/xc_grid.npz \\
        --out pyscf_ml/weights/nn_gga.pt

With ``--ae-target experiment`` (data made with ``--basis def2-tzvp``, which stores the non-XC
part of each PBE total energy) the atomization-energy term compares the non-self-consistent
atomization energies at the PBE densities with the experimental De of G2/97 instead of with
the target functional's; every ``--ae-validation-every``-th molecule is left out of that term
and reported separately.  ``--init`` starts from a weight file (e.g. a SCAN fit).

With ``--reference`` the second stage runs instead (SCF in the loop on CCSD densities and G2
atomization energies): see ``pyscf_ml.train.xc_scf``.

Defaults: LSDA->SVWN, GGA->PBE, metaGGA and NRA->SCAN.  Progress goes to stderr and --log;
--checkpoint is written every --checkpoint-every steps and --resume continues from it.
'''
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

from pyscf_ml.data.g2 import HARTREE_TO_KCAL
from pyscf_ml.modelcard import git_commit, sha256_of, write_card
from pyscf_ml.train.progress import (
    Progress,
    init_of_resumed_run,
    init_record,
    load_checkpoint,
    save_checkpoint,
)
from pyscf_ml.xc.forms import NagaiMLP, SpinDensities, descriptors, form_spec
from pyscf_ml.xc.weights_io import card_path_for, load_state_dict, save_state_dict

DEFAULT_TARGET = {'nn-lsda': 'svwn', 'nn-gga': 'pbe', 'nn-metagga': 'scan', 'nn-nra': 'scan'}


def per_system(system, weights, values, nsys):
    '''Quadrature sums of ``values`` for each system: sum_i w_i v_i over its points.'''
    return torch.zeros(nsys, dtype=values.dtype).index_add_(0, system, weights * values)


class GridData:
    '''Descriptors and target energy densities of every grid point above the density cutoff.'''

    def __init__(self, path, form, target, t2_floor=0.0):
        spec = form_spec(form)
        z = np.load(path)
        self.meta = json.loads(str(z['meta']))
        xs, prefs, ws, es, sys_idx = [], [], [], [], []
        for k, name in enumerate(self.meta['systems']):
            rho = torch.as_tensor(z[f'{name}/rho'])
            R = torch.as_tensor(z[f'{name}/R'])
            d = SpinDensities.from_pyscf_rho(rho, 1)
            x, n_raw, t1, mask = descriptors(spec.n_features, d, R, t2_floor)
            xs.append(x[mask])
            prefs.append((n_raw ** (4 / 3) * t1)[mask])
            ws.append(torch.as_tensor(z[f'{name}/weights'])[mask])
            es.append(torch.as_tensor(z[f'{name}/e_{target}'])[mask])
            sys_idx.append(torch.full((int(mask.sum()),), k))
        self.x, self.pref = torch.cat(xs), torch.cat(prefs)
        self.w, self.e_ref = torch.cat(ws), torch.cat(es)
        self.system = torch.cat(sys_idx)
        self.names = self.meta['systems']
        # the non-XC part of each system's PBE total energy (absent from older data files)
        self.e_nonxc = (torch.tensor([float(z[f'{name}/e_nonxc']) for name in self.names],
                                     dtype=torch.float64)
                        if f'{self.names[0]}/e_nonxc' in z.files else None)
        self.ae_matrix, self.molecules = atomization_matrix(self.names,
                                                            self.meta.get('compositions'))

    def energy_density(self, net, idx=slice(None)):
        return -net(self.x[idx]) * self.pref[idx]

    def system_energies(self, e):
        return per_system(self.system, self.w, e, len(self.names))


def atomization_matrix(names, compositions):
    '''A (n_molecules, n_systems) matrix M with (M E)_m = sum_atoms E_atom - E_m for every
    molecule of the data whose atoms are all in it too; the molecules' names.'''
    index = {name: k for k, name in enumerate(names)}
    rows, molecules = [], []
    for name in names:
        comp = (compositions or {}).get(name, {})
        if sum(comp.values()) < 2 or not all(el in index for el in comp):
            continue
        row = torch.zeros(len(names), dtype=torch.float64)
        row[index[name]] = -1.0
        for el, count in comp.items():
            row[index[el]] += count
        rows.append(row)
        molecules.append(name)
    if not rows:
        return torch.zeros(0, len(names), dtype=torch.float64), []
    return torch.stack(rows), molecules


def experimental_atomization_energies(molecules):
    '''Experimental De (kcal/mol) of G2/97 molecules, from ase's tables.'''
    from pyscf_ml.data import g2
    return torch.tensor([g2.atomization_energy(name) for name in molecules],
                        dtype=torch.float64)


def atomization_targets(data, ae_target, validation_every, path):
    '''(offset, fitted) per molecule of the data: AE error = offset + (ae_matrix @ E_xc error
    against the target) in kcal/mol, and which molecules the AE term fits.  'reference': no
    offset, all fitted.  'experiment': offset = the target functional's non-self-consistent AE
    (exact, full grid) minus experiment, every ``validation_every``-th molecule held out.'''
    n_mol = len(data.molecules)
    if ae_target == 'reference':
        return torch.zeros(n_mol, dtype=torch.float64), torch.ones(n_mol, dtype=torch.bool)
    if data.e_nonxc is None:
        raise SystemExit(f'{path} has no e_nonxc: regenerate it with this version '
                         '(python -m pyscf_ml.data xc-grid --set g2-1 --basis def2-tzvp)')
    ae_ref = data.ae_matrix @ (data.e_nonxc + data.system_energies(data.e_ref))
    offset = ae_ref * HARTREE_TO_KCAL - experimental_atomization_energies(data.molecules)
    return offset, ~validation_mask(n_mol, validation_every)


def validation_mask(n, every):
    '''Every ``every``-th molecule (positions every-1, 2*every-1, ...) is held out; 0: none.'''
    mask = torch.zeros(n, dtype=torch.bool)
    if every:
        mask[every - 1::every] = True
    return mask


def standardised_copy(state, mean, std, dtype):
    '''A network on standardised inputs equal to the raw-input network ``state``: the
    inverse of fold_standardisation, for warm starts.'''
    net = NagaiMLP(state['fc1.weight'].shape[1]).double()
    state = {k: v.detach().double().clone() for k, v in state.items()}
    mean, std = mean.double(), std.double()
    w = state['fc1.weight']
    state['fc1.bias'] = state['fc1.bias'] + w @ mean
    state['fc1.weight'] = w * std
    net.load_state_dict(state)
    return net.to(dtype)


def fold_standardisation(net, mean, std):
    '''A network on raw log-descriptors equal to ``net`` on (x - mean) / std: the published
    form takes raw inputs, while training on standardised ones is far better conditioned.'''
    raw = NagaiMLP(net.fc1.in_features).double()
    state = {k: v.detach().double().clone() for k, v in net.state_dict().items()}
    w = state['fc1.weight'] / std
    state['fc1.bias'] = state['fc1.bias'] - w @ mean
    state['fc1.weight'] = w
    raw.load_state_dict(state)
    return raw


def importance_probabilities(data, e_net=None):
    '''Sampling probability of each point: (uniform + its share of |E_xc|) / 2, or with the
    network's energy density ``e_net`` (uniform + share of |E_xc| + share of the network's
    |E_xc error|) / 3: the error share is what keeps the variance of the per-system error
    estimates, hence of the atomization-energy term, small.'''
    # |w|: pruned PySCF grids have some negative quadrature weights near the nuclei
    shares = [data.w.abs() * data.e_ref.abs()]
    if e_net is not None:
        shares.append(data.w.abs() * (e_net - data.e_ref).abs())
    p = torch.full_like(data.w, 1.0 / len(data.w))
    for share in shares:
        p = p + share / share.sum()
    return p / (1 + len(shares))


def importance_subset(data, size, rng):
    '''Points drawn without replacement with importance_probabilities, and weights that keep
    the weighted loss unbiased.'''
    p = importance_probabilities(data).numpy()
    size = min(size, len(p))
    idx = rng.choice(len(p), size=size, replace=False, p=p)
    return torch.as_tensor(idx), torch.as_tensor(1.0 / (p[idx] * size))


def importance_resample(p, size, seed):
    '''A fresh draw with replacement (deterministic in ``seed``, so a resumed run sees the
    same draws) and its unbiased quadrature weights.'''
    gen = torch.Generator().manual_seed(seed)
    idx = torch.multinomial(p, size, replacement=True, generator=gen)
    return idx, 1.0 / (p[idx] * size)


class Anchor:
    '''The network evaluated on every point at one step: its energy densities ``e``, its exact
    per-system E_xc error ``dE`` and sampling probabilities that follow its errors too.  Until the
    next anchor, per-system errors are estimated as dE + the sampled change since the anchor
    (a control variate): the sample then only has to resolve how far the network moved, not
    its whole pointwise error, which with 100 k points is ~8 kcal/mol of quadrature noise in
    an atomization energy.'''

    def __init__(self, data, net, mean, std, dtype, chunk=200_000):
        self.state = {k: v.clone() for k, v in net.state_dict().items()}
        with torch.no_grad():
            self.e = torch.cat([-net(((data.x[i:i + chunk] - mean) / std).to(dtype)).double()
                                * data.pref[i:i + chunk] for i in range(0, len(data.w), chunk)])
        # its exact per-system E_xc error against the target (float64: differences of ~Ha)
        self.dE = data.system_energies(self.e - data.e_ref)
        self.probabilities = importance_probabilities(data, self.e)


class Batch:
    '''The training tensors of sampled points: standardised descriptors, prefactors, target
    energy densities, quadrature weights (|w| for the pointwise loss, signed for energies)
    and per-system target energies.'''

    def __init__(self, data, idx, iw, mean, std, dtype, anchor=None):
        nsys = len(data.names)
        self.system = data.system[idx]
        # the anchor network's energy densities here and its exact per-system E_xc errors
        self.anchor = anchor and (anchor.e[idx].to(dtype), anchor.dE.to(dtype))
        e_ref = data.e_ref[idx]
        wt, ws = data.w[idx].abs() * iw, data.w[idx] * iw
        E_ref = per_system(self.system, ws, e_ref, nsys)
        norm = (wt * e_ref ** 2).sum()
        self.x, self.pref, self.e_ref, self.wt, self.ws, self.E_ref, self.norm = (
            t.to(dtype) for t in ((data.x[idx] - mean) / std, data.pref[idx], e_ref, wt, ws,
                                  E_ref, norm))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if '--reference' in argv:   # second stage: SCF in the loop on reference data
        from pyscf_ml.train import xc_scf
        return xc_scf.main(argv)
    p = argparse.ArgumentParser(prog='python -m pyscf_ml.train xc', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--form', required=True, choices=sorted(DEFAULT_TARGET))
    p.add_argument('--data', default='data/xc_grid.npz')
    p.add_argument('--target', help='svwn, pbe or scan (default depends on --form)')
    p.add_argument('--out', required=True, help='weight file to write (card written beside)')
    p.add_argument('--optimizer', choices=['adam', 'lbfgs'], default='adam')
    p.add_argument('--steps', type=int, default=1500, help='optimiser iterations')
    p.add_argument('--points', type=int, default=20000, help='importance-sampled grid points')
    p.add_argument('--lr', type=float, help='default: 3e-3 (Adam, cosine decay), 1 (L-BFGS)')
    p.add_argument('--energy-weight', type=float, default=1.0,
                   help='weight of the relative per-system E_xc term in the loss')
    p.add_argument('--ae-weight', type=float, default=0.0,
                   help='weight of the mean squared atomization-energy error (kcal/mol)^2 '
                        'that the E_xc errors alone cause (molecules whose atoms are in the data)')
    p.add_argument('--ae-target', choices=['reference', 'experiment'], default='reference',
                   help='reference: AE errors of E_xc against the target functional at the '
                        'same density; experiment: non-self-consistent AE at the PBE density '
                        'against experimental De (needs e_nonxc in the data)')
    p.add_argument('--ae-validation-every', type=int, default=5,
                   help='with --ae-target experiment, hold every n-th molecule out of the AE '
                        'term and report it as validation (0: use all)')
    p.add_argument('--init', help='start from this weight file (raw-input form, ours or the '
                                  'published format) instead of a random network')
    p.add_argument('--t2-floor', type=float,
                   help='gradient floor of the form: log sqrt(t2^2 + floor^2) replaces log t2 '
                        '(smooth SCF on default grids; see pyscf_ml.xc.forms); default: that '
                        'of --init, else 0 (the published form)')
    p.add_argument('--precision', choices=['float64', 'float32'], default='float64',
                   help='of the optimisation (float32 is ~2.5x faster on CPU); the saved '
                        'weights and the metrics are float64 either way')
    p.add_argument('--resample', action='store_true',
                   help='draw a fresh importance sample of --points every step (Adam only)')
    p.add_argument('--adapt-every', type=int, default=0,
                   help='with --resample, every n steps evaluate the network on all points: '
                        'sample where its errors are too, and estimate per-system energies '
                        'as its exact ones plus the sampled change since (0: never)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--log')
    p.add_argument('--checkpoint')
    p.add_argument('--checkpoint-every', type=int, default=50)
    p.add_argument('--resume', action='store_true')
    p.add_argument('--threads', type=int, default=0, help='torch threads (0: torch default)')
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.resample and args.optimizer != 'adam':
        p.error('--resample needs --optimizer adam (L-BFGS needs one fixed loss)')
    target = args.target or DEFAULT_TARGET[args.form]
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    t_start = time.perf_counter()
    commit = git_commit()   # before the weights are written: that makes the tree dirty

    init_state = load_state_dict(args.init, args.form) if args.init else None
    init_card = init_record(args.init)   # before --out, which may be the same file, is written
    t2_floor = (args.t2_floor if args.t2_floor is not None else
                float(init_state['t2_floor']) if init_state is not None else 0.0)
    if t2_floor < 0:
        p.error('--t2-floor must be >= 0')
    data = GridData(args.data, args.form, target, t2_floor)
    dtype = getattr(torch, args.precision)
    idx, iw = importance_subset(data, args.points, rng)
    mean, std = data.x[idx].mean(0), data.x[idx].std(0)
    batch = Batch(data, idx, iw, mean, std, dtype)
    probabilities = importance_probabilities(data) if args.resample else None
    anchor = None
    nsys = len(data.names)
    ae_matrix = data.ae_matrix * HARTREE_TO_KCAL
    if args.ae_weight and not data.molecules:
        raise SystemExit('--ae-weight needs molecules and their atoms in the data '
                         '(python -m pyscf_ml.data xc-grid --set g2-1)')
    # AE errors = ae_offset + ae_matrix @ (E_xc errors against the target), in kcal/mol
    ae_offset, ae_train = atomization_targets(data, args.ae_target, args.ae_validation_every,
                                              args.data)
    ae_matrix_fit, ae_offset_fit = ae_matrix[ae_train], ae_offset[ae_train]

    def loss_fn(net):
        b = batch
        e = -net(b.x) * b.pref
        pointwise = (b.wt * (e - b.e_ref) ** 2).sum() / b.norm
        E = per_system(b.system, b.ws, e, nsys)
        energy = (((E - b.E_ref) / b.E_ref) ** 2).mean()
        loss = pointwise + args.energy_weight * energy
        ae = torch.zeros(())
        if args.ae_weight:
            # the E_xc error of each molecule minus its atoms': what it adds to the AE
            if b.anchor is None:
                dE = E - b.E_ref
            else:
                e_anchor, dE_anchor = b.anchor
                dE = dE_anchor + per_system(b.system, b.ws, e - e_anchor, nsys)
            ae = ((ae_offset_fit + ae_matrix_fit @ dE) ** 2).mean()
            loss = loss + args.ae_weight * ae
        return loss * scale, pointwise, energy, ae

    ae_matrix_fit, ae_offset_fit = ae_matrix_fit.to(dtype), ae_offset_fit.to(dtype)
    if args.init:
        net = standardised_copy(init_state, mean, std, dtype)
    else:
        net = NagaiMLP(form_spec(args.form).n_features).to(dtype)
    net.t2_floor.fill_(t2_floor)
    # L-BFGS drops curvature pairs with s.y < 1e-10, so keep the loss O(1): divide by its value
    # at the initial network (stored in checkpoints so a resumed run optimises the same loss)
    scale = 1.0
    with torch.no_grad():
        scale = 1.0 / loss_fn(net)[0].item()
    if args.optimizer == 'adam':
        lr = args.lr or 3e-3
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.steps)
    else:
        lr = args.lr or 1.0
        opt = torch.optim.LBFGS(net.parameters(), lr=lr, max_iter=1, history_size=50,
                                line_search_fn='strong_wolfe', tolerance_grad=0,
                                tolerance_change=0)
        sched = None
    step = 0
    if args.resume and args.checkpoint:
        ckpt = load_checkpoint(args.checkpoint)
        if ckpt is not None:
            net.load_state_dict(ckpt['net'])
            opt.load_state_dict(ckpt['opt'])
            if sched is not None:
                sched.load_state_dict(ckpt['sched'])
            scale = ckpt['scale']
            step = ckpt['step']
            # the anchor in use at that step, recomputed, unless the loop is about to make a
            # new one anyway (a full-grid evaluation, ~8 s on the TZVP data)
            rebuilt_now = args.adapt_every and step % args.adapt_every == 0
            if ckpt.get('anchor') is not None and not rebuilt_now:
                anchor_net = NagaiMLP(net.fc1.in_features).to(dtype)
                anchor_net.load_state_dict(ckpt['anchor'])
                anchor = Anchor(data, anchor_net, mean, std, dtype)
                probabilities = anchor.probabilities
            if float(net.t2_floor) != t2_floor:
                raise SystemExit(f'{args.checkpoint} was trained with --t2-floor '
                                 f'{float(net.t2_floor)}, not {t2_floor}')
            init_card = init_of_resumed_run(ckpt, init_card)
            print(f'resumed from {args.checkpoint} at step {step}', file=sys.stderr)

    evaluated = []        # the loss terms of the closure's last evaluation

    def closure():
        opt.zero_grad()
        terms = loss_fn(net)
        terms[0].backward()
        evaluated[:] = [t.detach() for t in terms]
        return terms[0]

    progress = Progress(args.steps, args.log, every=50)
    last = float('inf')
    restarts = 0
    while step < args.steps:
        if probabilities is not None and args.adapt_every and step % args.adapt_every == 0:
            anchor = Anchor(data, net, mean, std, dtype)
            probabilities = anchor.probabilities
        if probabilities is not None:
            # a fresh sample each step: the network cannot fit one sample's quadrature noise,
            # which is of the size of the atomization-energy errors it is asked to remove
            batch = Batch(data, *importance_resample(probabilities, args.points,
                                                      args.seed * 1_000_003 + step),
                          mean, std, dtype, anchor)
        opt.step(closure)
        if sched is not None:
            sched.step()
        step += 1
        if sched is None:        # L-BFGS: the loss after the step decides about a restart
            with torch.no_grad():
                loss, pointwise, energy, ae = loss_fn(net)
        else:                    # Adam: log the terms the step itself evaluated (no 2nd pass)
            loss, pointwise, energy, ae = evaluated
        if sched is None and not loss.item() < last:
            # the line search found no decrease along the L-BFGS direction (a poor curvature
            # pair in the history): restart from steepest descent instead of stalling
            opt.state.clear()
            restarts += 1
        last = loss.item()
        progress.update(step, loss=loss.item() / scale, pointwise=pointwise.item(),
                        energy=energy.item(), ae_rms_kcal=ae.item() ** 0.5)
        if args.checkpoint and (step % args.checkpoint_every == 0 or step == args.steps):
            save_checkpoint(args.checkpoint, net=net.state_dict(), opt=opt.state_dict(),
                            step=step, scale=scale, init=init_card,
                            anchor=anchor and anchor.state,
                            sched=sched.state_dict() if sched is not None else None)
    progress.close()

    # metrics on every grid point (float64), per system, with the raw-input network
    net64 = fold_standardisation(net, mean.double(), std.double())
    with torch.no_grad():
        e_all = data.energy_density(net64)
        exc_nn = data.system_energies(e_all)
        exc_ref = data.system_energies(data.e_ref)
    err_mha = ((exc_nn - exc_ref) * 1000).tolist()
    ae_err = (data.ae_matrix @ (exc_nn - exc_ref) * HARTREE_TO_KCAL).tolist()
    metrics = {
        'relative_weighted_rmse_energy_density': float(
            torch.sqrt((data.w.abs() * (e_all - data.e_ref) ** 2).sum()
                       / (data.w.abs() * data.e_ref ** 2).sum())),
        'exc_error_mHa': dict(zip(data.names, [round(v, 3) for v in err_mha])),
        'exc_mae_mHa': float(np.mean(np.abs(err_mha))),
    }
    if data.molecules:
        # how far E_xc errors alone (at the fixed PBE densities) move atomization energies
        metrics['exc_ae_error_kcal'] = dict(zip(data.molecules, [round(v, 3) for v in ae_err]))
        metrics['exc_ae_mae_kcal'] = float(np.mean(np.abs(ae_err)))
    if args.ae_target == 'experiment':
        # non-self-consistent AE at the PBE densities against experiment: the network's,
        # and the target functional's for comparison, on the fitted and held-out molecules
        nn_err = ae_offset + torch.tensor(ae_err, dtype=torch.float64)
        metrics['ae_vs_experiment_error_kcal'] = dict(
            zip(data.molecules, [round(v, 3) for v in nn_err.tolist()]))
        for part, mask in (('fit', ae_train), ('validation', ~ae_train)):
            if mask.any():
                metrics[f'ae_vs_experiment_mae_kcal_{part}'] = float(nn_err[mask].abs().mean())
                metrics[f'{target}_ae_vs_experiment_mae_kcal_{part}'] = float(
                    ae_offset[mask].abs().mean())
        metrics['ae_validation_molecules'] = [m for m, t in zip(data.molecules, ae_train)
                                              if not t]
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    save_state_dict(args.out, args.form, net64.state_dict())
    card = write_card(
        card_path_for(args.out), args.out,
        name=args.form, form=args.form,
        stage='1: energy-density fit to a conventional functional (no SCF in the loop)'
              + ('; atomization energies fitted to experiment at fixed PBE densities'
                 if args.ae_target == 'experiment' else ''),
        target_functional=target,
        training_data=dict(file=os.path.basename(args.data), sha256=sha256_of(args.data),
                           **data.meta, points_total=int(len(data.w)),
                           points_sampled=int(len(idx))),
        hyperparameters=dict(steps=args.steps, lr=lr, points=args.points,
                             optimizer=('Adam, cosine decay' if sched is not None else
                                        f'L-BFGS (strong Wolfe), {restarts} restarts')
                             + (', a fresh importance sample every step' if args.resample
                                else ', one fixed importance sample (full batch)')
                             + ', standardised inputs folded into fc1',
                             loss='|w|-weighted squared error of n*eps_xc (relative) + '
                                  f'{args.energy_weight} x mean relative squared E_xc error'
                                  + (f' + {args.ae_weight} x mean squared AE error '
                                     + ('from E_xc ' if args.ae_target == 'reference' else
                                        'against experiment (non-self-consistent, PBE density) ')
                                     + '(kcal/mol)^2' if args.ae_weight else ''),
                             precision=args.precision, seed=args.seed, t2_floor=t2_floor,
                             resample_every_step=args.resample,
                             adapt_every=args.adapt_every,
                             ae_target=args.ae_target, init=init_card),
        command='python -m pyscf_ml.train ' + ' '.join(['xc'] + list(argv or sys.argv[1:])),
        data_command='python -m pyscf_ml.data xc-grid '
                     + (f'--set {data.meta["set"]} ' if data.meta.get('set', 'builtin') != 'builtin'
                        else '')
                     + (f'--basis {data.meta["basis"]} ' if data.meta['basis'] != 'def2-svp'
                        else '') + '--out ' + args.data,
        commit=commit, metrics=metrics,
        train_seconds=round(time.perf_counter() - t_start, 1),
        reference='Nagai, Akashi, Sugino, npj Comput. Mater. 6, 43 (2020) (functional form)')
    print(json.dumps(card['metrics'], indent=1))
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
