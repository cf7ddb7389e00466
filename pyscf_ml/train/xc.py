'''Fit an nn-* functional to a conventional functional's XC energy density (first stage).

The network keeps its published form (eps_xc = -G(log t) n^(1/3) t1); G is fitted so that
n eps_xc reproduces the target's energy density on the grid points of
``python -m pyscf_ml.data xc-grid``, in the quadrature-weighted least-squares sense.

    python -m pyscf_ml.train xc --form nn-gga --data data/xc_grid.npz \\
        --out pyscf_ml/weights/nn_gga.pt

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
from pyscf_ml.train.progress import Progress, load_checkpoint, save_checkpoint
from pyscf_ml.xc.forms import NagaiMLP, SpinDensities, descriptors, form_spec
from pyscf_ml.xc.weights_io import card_path_for, save_state_dict

DEFAULT_TARGET = {'nn-lsda': 'svwn', 'nn-gga': 'pbe', 'nn-metagga': 'scan', 'nn-nra': 'scan'}


def per_system(system, weights, values, nsys):
    '''Quadrature sums of ``values`` for each system: sum_i w_i v_i over its points.'''
    return torch.zeros(nsys, dtype=values.dtype).index_add_(0, system, weights * values)


class GridData:
    '''Descriptors and target energy densities of every grid point above the density cutoff.'''

    def __init__(self, path, form, target):
        spec = form_spec(form)
        z = np.load(path)
        self.meta = json.loads(str(z['meta']))
        xs, prefs, ws, es, sys_idx = [], [], [], [], []
        for k, name in enumerate(self.meta['systems']):
            rho = torch.as_tensor(z[f'{name}/rho'])
            R = torch.as_tensor(z[f'{name}/R'])
            d = SpinDensities.from_pyscf_rho(rho, 1)
            x, n_raw, t1, mask = descriptors(spec.n_features, d, R)
            xs.append(x[mask])
            prefs.append((n_raw ** (4 / 3) * t1)[mask])
            ws.append(torch.as_tensor(z[f'{name}/weights'])[mask])
            es.append(torch.as_tensor(z[f'{name}/e_{target}'])[mask])
            sys_idx.append(torch.full((int(mask.sum()),), k))
        self.x, self.pref = torch.cat(xs), torch.cat(prefs)
        self.w, self.e_ref = torch.cat(ws), torch.cat(es)
        self.system = torch.cat(sys_idx)
        self.names = self.meta['systems']
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


def importance_subset(data, size, rng):
    '''Points drawn with probability ~ (uniform + energy contribution) / 2, and weights that
    keep the weighted loss unbiased.'''
    # |w|: pruned PySCF grids have some negative quadrature weights near the nuclei
    contrib = (data.w.abs() * data.e_ref.abs()).numpy()
    p = 0.5 / len(contrib) + 0.5 * contrib / contrib.sum()
    size = min(size, len(p))
    idx = rng.choice(len(p), size=size, replace=False, p=p)
    return torch.as_tensor(idx), torch.as_tensor(1.0 / (p[idx] * size))


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
    p.add_argument('--precision', choices=['float64', 'float32'], default='float64',
                   help='of the optimisation (float32 is ~2.5x faster on CPU); the saved '
                        'weights and the metrics are float64 either way')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--log')
    p.add_argument('--checkpoint')
    p.add_argument('--checkpoint-every', type=int, default=50)
    p.add_argument('--resume', action='store_true')
    p.add_argument('--threads', type=int, default=0, help='torch threads (0: torch default)')
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    target = args.target or DEFAULT_TARGET[args.form]
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    t_start = time.perf_counter()

    data = GridData(args.data, args.form, target)
    idx, iw = importance_subset(data, args.points, rng)
    x, pref, e_ref = data.x[idx], data.pref[idx], data.e_ref[idx]
    mean, std = x.mean(0), x.std(0)
    x = (x - mean) / std
    wt = data.w[idx].abs() * iw
    ws = data.w[idx] * iw                 # signed: the quadrature of E_xc
    system = data.system[idx]
    norm = (wt * e_ref ** 2).sum()
    nsys = len(data.names)
    E_ref = per_system(system, ws, e_ref, nsys)
    ae_matrix = data.ae_matrix * HARTREE_TO_KCAL
    if args.ae_weight and not data.molecules:
        raise SystemExit('--ae-weight needs molecules and their atoms in the data '
                         '(python -m pyscf_ml.data xc-grid --set g2-1)')

    def loss_fn(net):
        e = -net(x) * pref
        pointwise = (wt * (e - e_ref) ** 2).sum() / norm
        E = per_system(system, ws, e, nsys)
        energy = (((E - E_ref) / E_ref) ** 2).mean()
        loss = pointwise + args.energy_weight * energy
        ae = torch.zeros(())
        if args.ae_weight:
            # the E_xc error of each molecule minus its atoms': what it adds to the AE
            ae = ((ae_matrix @ (E - E_ref)) ** 2).mean()
            loss = loss + args.ae_weight * ae
        return loss * scale, pointwise, energy, ae

    dtype = getattr(torch, args.precision)
    x, pref, e_ref, wt, ws, E_ref, norm, ae_matrix = (
        t.to(dtype) for t in (x, pref, e_ref, wt, ws, E_ref, norm, ae_matrix))
    net = NagaiMLP(form_spec(args.form).n_features).to(dtype)
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
            print(f'resumed from {args.checkpoint} at step {step}', file=sys.stderr)

    def closure():
        opt.zero_grad()
        loss = loss_fn(net)[0]
        loss.backward()
        return loss

    progress = Progress(args.steps, args.log, every=50)
    last = float('inf')
    restarts = 0
    while step < args.steps:
        opt.step(closure)
        if sched is not None:
            sched.step()
        step += 1
        with torch.no_grad():
            loss, pointwise, energy, ae = loss_fn(net)
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
                            step=step, scale=scale,
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
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    save_state_dict(args.out, args.form, net64.state_dict())
    card = write_card(
        card_path_for(args.out), args.out,
        name=args.form, form=args.form,
        stage='1: energy-density fit to a conventional functional (no SCF in the loop)',
        target_functional=target,
        training_data=dict(file=os.path.basename(args.data), sha256=sha256_of(args.data),
                           **data.meta, points_total=int(len(data.w)),
                           points_sampled=int(len(idx))),
        hyperparameters=dict(steps=args.steps, lr=lr, points=args.points,
                             optimizer=('Adam, cosine decay' if sched is not None else
                                        f'L-BFGS (strong Wolfe), {restarts} restarts')
                             + ', full batch, standardised inputs folded into fc1',
                             loss='|w|-weighted squared error of n*eps_xc (relative) + '
                                  f'{args.energy_weight} x mean relative squared E_xc error'
                                  + (f' + {args.ae_weight} x mean squared AE error from E_xc '
                                     '(kcal/mol)^2' if args.ae_weight else ''),
                             precision=args.precision, seed=args.seed),
        command='python -m pyscf_ml.train ' + ' '.join(['xc'] + list(argv or sys.argv[1:])),
        data_command='python -m pyscf_ml.data xc-grid '
                     + (f'--set {data.meta["set"]} ' if data.meta.get('set', 'builtin') != 'builtin'
                        else '') + '--out ' + args.data,
        commit=git_commit(), metrics=metrics,
        train_seconds=round(time.perf_counter() - t_start, 1),
        reference='Nagai, Akashi, Sugino, npj Comput. Mater. 6, 43 (2020) (functional form)')
    print(json.dumps(card['metrics'], indent=1))
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
