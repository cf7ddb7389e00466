'''Train the equivariant Hamiltonian model on the Fock matrices that
``python -m pyscf_ml.data phisnet`` makes.

``python -m pyscf_ml.train phisnet --data runs/data/water.pt --out runs/phisnet_water
--epochs 60 --weights pyscf_ml/weights/phisnet_water.pt``

Only the ``train`` split is fitted; ``val`` picks the best epoch; ``test`` (held-out conformers
or molecules) is evaluated once at the end for the model card and never steers training.
A checkpoint is written every epoch to OUT/checkpoint.pt; ``--resume`` continues from it.

Loss: the mean squared error of the AO matrix elements (``--loss l1``: their mean absolute
error, the metric the models are reported on, which weights the many small errors more than the
few large ones), plus, with ``--mo-loss BETA``,
BETA * sum_pq (C^T dF C)_pq^2 w_pq^2 / n_AO in the reference molecular orbitals C (C^T S C = 1)
with w_pq = 1 / (|e_p - mu| + |e_q - mu|), mu the mid-gap level.  For an occupied-virtual pair
this is the first-order orbital rotation dF_ia / (e_a - e_i) that the error causes; for a
diagonal element, half the level's shift relative to its distance from the Fermi level.  The AO
loss weights a near-linearly-dependent combination of overlap eigenvalue s by s^2 relative to
its effect on the orbitals, which is why an AO-accurate model can still give spurious occupied
levels (see ``pyscf_ml.guess.predict.drop_near_dependent``); this term does not.
'''
import argparse
import json
import os
import sys
import time

import numpy as np
import scipy.linalg
import torch

from pyscf_ml.data.phisnet import sample_mol
from pyscf_ml.device import get_device
from pyscf_ml.guess.baseline import baseline_fock
from pyscf_ml.guess.model import HamiltonianModel, build_model, rebuilt
from pyscf_ml.guess.predict import _resolve as _resolve_model
from pyscf_ml.guess.predict import load_model as load_predictor
from pyscf_ml.modelcard import git_commit, write_card
from pyscf_ml.train.progress import (
    Progress,
    init_of_resumed_run,
    init_record,
    load_checkpoint,
    save_checkpoint,
)

DEF2SVP_SHELLS = {1: [0, 0, 1], 6: [0, 0, 0, 1, 1, 2], 7: [0, 0, 0, 1, 1, 2],
                  8: [0, 0, 0, 1, 1, 2]}


def load_samples(paths, settings=None):
    '''All samples of the data files; ``settings`` (a dict), if given, receives each file's
    generation settings by path (for the model card's data commands).'''
    samples = []
    for p in paths:
        state = torch.load(p, map_location='cpu', weights_only=False)
        samples += state['samples']
        if settings is not None:
            settings[p] = state.get('settings')
    return samples


def data_command(path, cfg):
    '''The ``python -m pyscf_ml.data phisnet`` command that made the data file ``path`` from
    the settings ``cfg`` stored in it.'''
    if not cfg:
        return None
    words = ['python -m pyscf_ml.data phisnet', f'--molecule {cfg["molecule"]}',
             f'--n-conf {cfg["n_conf"]}', f'--n-val {cfg["n_val"]}', f'--n-test {cfg["n_test"]}']
    words += ['--held-out'] if cfg.get('held_out') else []
    words += [f'--temperature {cfg["temperature"]:g}', f'--seed {cfg["seed"]}', f'--out {path}']
    return ' '.join(words)


def add_residual_targets(samples):
    '''The model learns F - F0 (F0 = Hcore + V_SAP, see pyscf_ml.guess.baseline).'''
    for s in samples:
        if 'target' not in s:
            s['target'] = s['fock'] - baseline_fock(sample_mol(s))
    return samples


def add_mo_weights(samples):
    '''Reference orbitals C and the weights w_pq of the MO loss (see module docstring).'''
    for s in samples:
        if 'mo_coeff' in s:
            continue
        ovlp = sample_mol(s).intor_symmetric('int1e_ovlp')
        e, c = scipy.linalg.eigh(s['fock'], ovlp)
        nocc = int(s['nocc'])
        mu = 0.5 * (e[nocc - 1] + e[nocc])
        d = np.abs(e - mu)
        s['mo_coeff'], s['mo_weight'] = c, 1. / (d[:, None] + d[None, :])
    return samples


def to_tensors(samples, dtype, device):
    out = []
    for s in samples:
        t = dict(name=s['name'], z=torch.as_tensor(np.asarray(s['Z']), device=device),
                 pos=torch.as_tensor(s['pos'], dtype=dtype, device=device),
                 fock=torch.as_tensor(s['target'], dtype=dtype, device=device))
        for k in ('mo_coeff', 'mo_weight'):
            if k in s:
                t[k] = torch.as_tensor(s[k], dtype=dtype, device=device)
        out.append(t)
    return out


def batch_loss(preds, batch, mo_loss, kind='mse'):
    '''AO mean squared (``kind='l1'``: absolute) error, plus ``mo_loss`` times the MO-basis term
    (module docstring).'''
    n = sum(p.numel() for p in preds)
    power = dict(mse=2, l1=1)[kind]
    loss = sum((p - b['fock']).abs().pow(power).sum() for p, b in zip(preds, batch)) / n
    if mo_loss:
        mo = sum((((b['mo_coeff'].T @ (p - b['fock']) @ b['mo_coeff']) * b['mo_weight']) ** 2)
                 .sum() / p.shape[0] for p, b in zip(preds, batch)) / len(batch)
        loss = loss + mo_loss * mo
    return loss


def batch_fock(model, batch):
    z = torch.cat([b['z'] for b in batch])
    pos = torch.cat([b['pos'] for b in batch])
    mol_index = torch.cat([torch.full((len(b['z']),), k, dtype=torch.long, device=z.device)
                           for k, b in enumerate(batch)])
    return model.fock(z, pos, mol_index)


@torch.no_grad()
def evaluate(model, data, batch_size=8):
    '''Mean absolute error (Ha) over all matrix elements, overall and per molecule name.'''
    err = {}
    for k in range(0, len(data), batch_size):
        batch = data[k:k + batch_size]
        for b, f in zip(batch, batch_fock(model, batch)):
            e = err.setdefault(b['name'], [0., 0])
            e[0] += (f - b['fock']).abs().sum().item()
            e[1] += f.numel()
    total = sum(v[0] for v in err.values()) / max(1, sum(v[1] for v in err.values()))
    return total, {n: v[0] / v[1] for n, v in err.items()}


@torch.no_grad()
def val_loss(model, data, mo_loss, kind, batch_size=8):
    '''The training objective averaged over ``data``.'''
    tot = 0.
    for k in range(0, len(data), batch_size):
        batch = data[k:k + batch_size]
        tot += batch_loss(batch_fock(model, batch), batch, mo_loss, kind).item() * len(batch)
    return tot / len(data)


def build_parser():
    p = argparse.ArgumentParser(prog='python -m pyscf_ml.train phisnet', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', nargs='+', required=True, help='.pt files from pyscf_ml.data phisnet')
    p.add_argument('--out', required=True, help='run folder: checkpoint.pt, train.log')
    p.add_argument('--weights', default=None, help='write final weights here (+ .json card)')
    p.add_argument('--name', default=None, help='model name for the card')
    p.add_argument('--epochs', type=int, default=50)
    p.add_argument('--batch-size', type=int, default=4)
    p.add_argument('--lr', type=float, default=1e-2)
    p.add_argument('--lr-final', type=float, default=1e-4)
    p.add_argument('--mul', type=int, default=16, help='channels per irrep')
    p.add_argument('--layers', type=int, default=2)
    p.add_argument('--lmax', type=int, default=2)
    p.add_argument('--max-train', type=int, default=None,
                   help='use at most this many train samples')
    p.add_argument('--time-limit', type=float, default=None,
                   help='minutes of training in all (resumes included); the learning rate decays '
                        'over it; stops after the epoch that passes it and still writes weights')
    p.add_argument('--loss', choices=('mse', 'l1'), default='mse',
                   help='AO term of the loss: squared or absolute error (module docstring)')
    p.add_argument('--mo-loss', type=float, default=0.0,
                   help='weight of the MO-basis loss term (module docstring); 0 = AO loss only')
    p.add_argument('--init', default=None,
                   help='start from these weights (fine-tuning) instead of a new model')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--resume', action='store_true')
    return p


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    commit = git_commit()   # before the weights are written: that makes the tree dirty
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', '1')))
    torch.manual_seed(args.seed)
    device = get_device()
    os.makedirs(args.out, exist_ok=True)
    data_settings = {}
    samples = add_residual_targets(load_samples(args.data, data_settings))
    if args.mo_loss:
        add_mo_weights([s for s in samples if s['split'] in ('train', 'val')])
    split = {k: [s for s in samples if s['split'] == k] for k in ('train', 'val', 'test')}
    if args.max_train:
        split['train'] = split['train'][:args.max_train]
    elements = sorted({int(z) for s in samples for z in s['Z']})
    shells = {z: DEF2SVP_SHELLS[z] for z in elements}
    print('samples: ' + ', '.join(f'{k} {len(v)}' for k, v in split.items()), file=sys.stderr)
    if not split['val']:
        print('warning: no validation conformers (--n-val 0 in every data file): the best '
              'epoch is chosen by the training loss, and the card has no validation error',
              file=sys.stderr)

    ckpt_path = os.path.join(args.out, 'checkpoint.pt')
    ckpt = load_checkpoint(ckpt_path) if args.resume else None
    if ckpt and 'init' in ckpt:
        init = ckpt['init']       # the run's first start (the file may have moved since)
        near_dependence = (ckpt['near_dependence'] if 'near_dependence' in ckpt
                           else inherited_near_dependence(args.init))  # older checkpoints
    else:
        init = init_record(args.init, args.init and _resolve_model(args.init)[0])
        if ckpt:
            init = init_of_resumed_run(ckpt, init)
        near_dependence = inherited_near_dependence(args.init)
    # training builds the tensor products with contraction-order optimisation (model.py
    # `_building`: same function, a uracil step ~6x faster on one CPU thread)
    if ckpt:
        model = build_model(ckpt['config'], optimize_einsums=True).float().to(device)
    elif args.init:
        # the serving loader checks the file against its card and names a bad file; its
        # weights go into a new, optimised build (which also leaves its cached model alone)
        model = rebuilt(load_predictor(args.init).model, optimize_einsums=True)
        model = model.float().to(device)
    else:
        model = HamiltonianModel(shells, mul=args.mul, lmax=args.lmax, num_layers=args.layers,
                                 optimize_einsums=True)
        model.fit_site_reference([dict(Z=s['Z'], fock=s['target']) for s in split['train']])
        model = model.float().to(device)
    data = {k: to_tensors(v, torch.float32, device) for k, v in split.items()}
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    nbatch = -(-len(data['train']) // args.batch_size)
    epoch0, best, spent = 0, dict(val=float('inf'), state=None, epoch=-1), 0.
    if ckpt:
        model.load_state_dict(ckpt['model'])
        opt.load_state_dict(ckpt['opt'])
        epoch0, best, spent = ckpt['epoch'], ckpt['best'], ckpt['seconds']
        print(f'resumed at epoch {epoch0}', file=sys.stderr)

    def set_lr(epoch_frac):
        # exponential decay over the run; with --time-limit the clock may end it first, so the
        # schedule follows whichever of epochs or time is further along
        frac = epoch_frac / args.epochs
        if args.time_limit:
            frac = max(frac, (spent + time.perf_counter() - t0) / (60 * args.time_limit))
        lr = args.lr * (args.lr_final / args.lr) ** min(1., frac)
        for g in opt.param_groups:
            g['lr'] = lr
        return lr

    progress = Progress(args.epochs, os.path.join(args.out, 'train.log'), every=1,
                        start_step=epoch0, seconds_before=spent,
                        time_limit=args.time_limit and 60 * args.time_limit)
    rng = np.random.default_rng(args.seed + epoch0)
    t0 = time.perf_counter()
    lr = set_lr(epoch0)
    for epoch in range(epoch0, args.epochs):
        model.train()
        order = rng.permutation(len(data['train']))
        tot = 0.
        for k in range(nbatch):
            batch = [data['train'][i] for i in order[k * args.batch_size:(k + 1) * args.batch_size]]
            loss = batch_loss(batch_fock(model, batch), batch, args.mo_loss, args.loss)
            opt.zero_grad()
            loss.backward()
            opt.step()
            lr = set_lr(epoch + (k + 1) / nbatch)
            tot += loss.item()
        model.eval()
        # without a val split there is no validation error: the epoch is chosen by the mean
        # training loss, and the card says so instead of calling that loss an MAE
        val_mae = evaluate(model, data['val'])[0] if data['val'] else None
        # with the MO term, the epoch is chosen by the training objective on val
        val_score = (val_loss(model, data['val'], args.mo_loss, args.loss)
                     if args.mo_loss and data['val'] else
                     val_mae if val_mae is not None else tot / nbatch)
        if val_score < best['val']:
            best = dict(val=val_score, val_mae=val_mae, epoch=epoch + 1,
                        state={k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
        save_checkpoint(ckpt_path, config=model.config, model=model.state_dict(),
                        opt=opt.state_dict(), epoch=epoch + 1, best=best, args=vars(args),
                        seconds=spent + time.perf_counter() - t0, init=init,
                        near_dependence=near_dependence)
        key, err = (('rmse_uHa', np.sqrt(tot / nbatch)) if args.loss == 'mse'
                    else ('mae_uHa', tot / nbatch))      # the training loss in µHa
        shown = {} if val_mae is None else dict(val_mae_uHa=float(val_mae * 1e6))
        progress.update(epoch + 1, **{key: float(err * 1e6)}, **shown, lr=float(lr))
        if args.time_limit and spent + time.perf_counter() - t0 > 60 * args.time_limit:
            print(f'time limit reached after epoch {epoch + 1}', file=sys.stderr)
            break
    progress.close()

    model.load_state_dict(best['state'])
    model.eval()
    metrics = dict(best_epoch=best['epoch'])
    if data['val']:
        metrics['val_fock_mae_uHa'] = best.get('val_mae', best['val']) * 1e6
    else:
        metrics['selected_by'] = 'mean training loss (the data have no validation split)'
    if args.mo_loss:
        metrics['val_loss'] = best['val']
    if data['test']:
        mae, per = evaluate(model, data['test'])
        metrics['test_fock_mae_uHa'] = mae * 1e6
        metrics['test_fock_mae_uHa_per_molecule'] = {n: v * 1e6 for n, v in per.items()}
    print(json.dumps(metrics, indent=1), file=sys.stderr)
    if args.weights:
        save_weights(model, args, argv, split, metrics, spent + time.perf_counter() - t0,
                     commit, data_settings, init, near_dependence)
    return 0


def inherited_near_dependence(init):
    '''The ``--init`` model card's own ``near_dependence`` entry (None without one), for the
    new card.  Why: the choice was measured for the parent on validation conformers, and our
    rounds keep it for a fine-tuned model until it is measured again; without it a weight file
    loaded by path would silently fall back to the default treatment.'''
    if not init:
        return None
    choice = load_predictor(init).card.get('near_dependence')
    if choice is None:
        return None
    return dict(choice, inherited_from=init)


def save_weights(model, args, argv, split, metrics, seconds, commit, data_settings, init,
                 near_dependence=None):
    state = {k: v.detach().cpu().float() for k, v in model.state_dict().items()}
    torch.save(dict(config=model.config, state_dict=state, basis='def2-svp', xc='pbe'),
               args.weights)
    names = sorted({s['name'] for v in split.values() for s in v})

    def count(k):   # samples per molecule name in split k
        return {n: sum(s['name'] == n for s in split[k]) for n in names
                if any(s['name'] == n for s in split[k])}
    n_params = sum(p.numel() for p in model.parameters())
    write_card(os.path.splitext(args.weights)[0] + '.json', args.weights,
               name=args.name or os.path.splitext(os.path.basename(args.weights))[0],
               form='HamiltonianModel (pyscf_ml.guess.model): e3nn message passing, '
                    'per-element/per-element-pair CG readouts into def2-SVP AO blocks, F = M + M^T',
               architecture=dict(model.config, n_params=n_params,
                                 shells={str(k): v for k, v in model.config['shells'].items()}),
               target='F - (Hcore + V_SAP) for the PBE/def2-SVP Fock matrix F (Hartree, '
                      'PySCF AO order, conv_tol 1e-10); prediction = Hcore + V_SAP + model',
               data_commands=[data_command(p, data_settings.get(p)) for p in args.data],
               training_data=dict(files=args.data, generator='python -m pyscf_ml.data phisnet',
                                  train=count('train'), val=count('val'), test=count('test')),
               training_command='python -m pyscf_ml.train phisnet ' + ' '.join(argv),
               training_seconds=round(seconds), commit=commit, metrics=metrics, init=init,
               **({'near_dependence': near_dependence} if near_dependence else {}))
