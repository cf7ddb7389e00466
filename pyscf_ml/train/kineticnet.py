'''Train the learned Pauli kinetic functional (``python -m pyscf_ml.train kineticnet``).

Loss per molecule: ((T_P - T_P^ref) / 10 mHa)^2 + lambda * mean_k ((d_k - d_k^ref) / 0.1)^2,
where d_k are projected functional derivatives (see :mod:`pyscf_ml.data.ofdft`).  Samples from
``pyscf_ml.data ofdft-path`` (densities far from the KS ground state, T_P up to several Ha)
are scaled by max(1, ``--path-rel`` * T_P^ref / 10 mHa) instead: there the network must learn
that T_P is large, not its value to 10 mHa, and unscaled they swamp the ground-state samples.
Training runs in float32; the shipped weights are converted to float64.  A checkpoint is
written every epoch and ``--resume`` continues from it.  Example::

    python -m pyscf_ml.train kineticnet --data runs/ofdft_data/train.pt \\
        --test runs/ofdft_data/test.pt --epochs 12 --out runs/kineticnet \\
        --weights pyscf_ml/weights/kineticnet.pt
'''
import argparse
import os
import sys
import time

import numpy as np
import torch

from pyscf_ml.device import get_device
from pyscf_ml.modelcard import git_commit, write_card
from pyscf_ml.ofdft.kineticnet import KineticNet
from pyscf_ml.train.progress import (
    Progress,
    init_of_resumed_run,
    init_record,
    load_checkpoint,
    save_checkpoint,
)

HARTREE_TO_KCAL = 627.509474
E_SCALE, D_SCALE = 1e-2, 1e-1


def _to(s, dtype, device):
    return {k: (v.to(device=device, dtype=dtype) if torch.is_tensor(v) and v.is_floating_point()
                else v.to(device) if torch.is_tensor(v) else v) for k, v in s.items()}


def predict(model, s, with_deriv=True):
    '''(T_P, projected derivatives) for one sample dict.'''
    rho = s['rho'].clone().requires_grad_(with_deriv)
    inputs, sigma = [rho], None
    if model.gradient:
        if 'grad_rho_sq' not in s:
            raise ValueError('this KineticNet reads the density gradient, but the sample has '
                             'no grad_rho_sq/proj_grad (made before they existed, or with '
                             '--no-gradient-labels): regenerate the data without that flag')
        sigma = s['grad_rho_sq'].clone().requires_grad_(with_deriv)
        inputs.append(sigma)
    t = model(s['coords'], s['weights'], rho, s['pos'], s['z'], sigma=sigma)
    if not with_deriv:
        return t, None
    grads = torch.autograd.grad(t, inputs, create_graph=torch.is_grad_enabled())
    f = s['proj'] - (s['proj_norm'] / s['nelec'])[None, :]
    # directional derivative along delta rho_k = rho (f_k - n_k/N) (N kept): d_k = sum_g
    # dT/drho_g delta rho_gk (+ dT/dsigma_g delta sigma_gk, with delta sigma_k =
    # 2 (sigma (f_k - n_k/N) + rho grad rho . grad f_k))
    d = (grads[0] * rho) @ f
    if model.gradient:
        gs = 2 * grads[1]
        d = d + (gs * sigma) @ f + (gs * rho) @ s['proj_grad']
    return t, d


def error_scale(s, path_rel):
    '''Relative error scale of a sample (module docstring).'''
    return max(1.0, path_rel * abs(s['T_pauli']) / E_SCALE) if 'mix' in s else 1.0


def sample_loss(model, s, lam, path_rel=0.0):
    t, d = predict(model, s, with_deriv=lam > 0)
    scale = error_scale(s, path_rel)
    loss = ((t - s['T_pauli']) / (scale * E_SCALE))**2
    if lam > 0:
        loss = loss + lam * torch.mean(((d - s['dpauli']) / (scale * D_SCALE))**2)
    return loss, t


def evaluate(model, samples, dtype, device, path_rel=0.0):
    '''Per-sample (name, T_P error in kcal/mol, relative projected-derivative error, |error| in
    units of the loss's scale); ofdft-path samples are named '<molecule> path'.'''
    rows = []
    for s in samples:
        s = _to(s, dtype, device)
        t, d = predict(model, s, with_deriv=True)
        err = (t.item() - s['T_pauli']) * HARTREE_TO_KCAL
        rel = (torch.linalg.norm(d - s['dpauli']) /
               torch.linalg.norm(s['dpauli'] + s['dvw'])).item()
        name = s['name'] + (' path' if 'mix' in s else '')
        scaled = abs(err) / HARTREE_TO_KCAL / (error_scale(s, path_rel) * E_SCALE)
        rows.append((name, err, rel, scaled))
    return rows


def summarize(rows):
    out = {}
    for name in sorted({r[0] for r in rows}):
        e = np.array([r[1] for r in rows if r[0] == name])
        d = np.array([r[2] for r in rows if r[0] == name])
        out[name] = {'n': int(len(e)), 'mae_kcal': float(np.abs(e).mean()),
                     'max_kcal': float(np.abs(e).max()), 'deriv_rel_err': float(d.mean())}
    e = np.array([r[1] for r in rows])
    out['all'] = {'n': int(len(e)), 'mae_kcal': float(np.abs(e).mean()),
                  'max_kcal': float(np.abs(e).max())}
    return out


def lr_at(step, nstep, lr):
    '''10% linear warm-up, then cosine decay to 1% (a function of the step only, so that a
    resumed run continues the same schedule).'''
    warm = max(1, nstep // 10)
    if step < warm:
        return lr * (step + 1) / warm
    x = min(1.0, (step - warm) / max(1, nstep - warm))
    return lr * (0.01 + 0.99 * 0.5 * (1 + np.cos(np.pi * x)))


def load_samples(files):
    '''(blobs, their samples concatenated) of data files from pyscf_ml.data ofdft/ofdft-path.'''
    blobs = [torch.load(f, map_location='cpu', weights_only=False) for f in files]
    return blobs, [s for b in blobs for s in b['samples']]


def main(argv=None):
    p = argparse.ArgumentParser(prog='python -m pyscf_ml.train kineticnet', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', required=True,
                   help='training file(s) from pyscf_ml.data ofdft, comma separated')
    p.add_argument('--test', help='held-out file(s), comma separated (metrics for the card)')
    p.add_argument('--out', default='runs/kineticnet', help='checkpoint/log directory')
    p.add_argument('--weights', help='where to write the final float64 weights (+ .json card)')
    p.add_argument('--epochs', type=int, default=12)
    p.add_argument('--batch', type=int, default=8)
    p.add_argument('--lr', type=float, default=3e-3)
    p.add_argument('--lam', type=float, default=0.1, help='weight of the derivative loss')
    p.add_argument('--path-rel', type=float, default=0.0,
                   help='relative error scale of ofdft-path samples (module docstring)')
    p.add_argument('--val', help='validation file(s), comma separated: the same validation '
                   'set across training stages; then no sample of --data is held out')
    p.add_argument('--val-frac', type=float, default=0.1,
                   help='without --val: the fraction of --data held out for validation')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--n-radial', type=int, default=10)
    p.add_argument('--mul', type=int, default=6)
    p.add_argument('--hidden', type=int, default=24)
    p.add_argument('--gradient', action='store_true',
                   help='a new model that also reads the reduced density gradient (data must '
                   'carry grad_rho_sq and proj_grad)')
    p.add_argument('--resume', action='store_true')
    p.add_argument('--init', help='start from these weights (fine-tuning) instead of random')
    args = p.parse_args(argv)
    commit = git_commit()   # before the weights are written: that makes the tree dirty
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    device = get_device()
    dtype = torch.float32
    os.makedirs(args.out, exist_ok=True)
    data_files = args.data.split(',')
    blobs, samples = load_samples(data_files)
    if args.val:
        val_files = args.val.split(',')
        same = {os.path.abspath(f) for f in val_files} & {os.path.abspath(f) for f in data_files}
        if same:
            raise SystemExit(f'--val file(s) {sorted(same)} are also in --data')
        val_blobs, val = load_samples(val_files)
        train = [_to(s, dtype, device) for s in samples]
        validation = dict(files=val_files, commands=[b.get('command', '') for b in val_blobs])
    else:
        validation = dict(random_fraction=args.val_frac, seed=args.seed,
                          of=[b.get('command', '') for b in blobs])
        rng = np.random.default_rng(args.seed)
        perm = rng.permutation(len(samples))
        nval = max(1, int(args.val_frac * len(samples)))
        val = [samples[i] for i in perm[:nval]]
        train = [_to(samples[i], dtype, device) for i in perm[nval:]]
    species = sorted({int(z) for s in samples for z in s['z']})
    init_card = init_record(args.init)
    if args.init:
        init = torch.load(args.init, map_location='cpu', weights_only=False)
        model = KineticNet(**init['config'])
        model.load_state_dict(init['state_dict'])
        model = model.to(device=device, dtype=dtype)
    else:
        model = KineticNet(species=species, n_radial=args.n_radial, mul=args.mul,
                           hidden=args.hidden, gradient=args.gradient).to(device=device,
                                                                          dtype=dtype)
    if args.gradient and not model.gradient:
        raise SystemExit('--gradient makes a new model; --init here is a density-only one')
    try:   # an element only in the validation set would fail after a whole epoch
        model.check_species([z for s in val for z in s['z']])
    except ValueError as err:
        raise SystemExit(f'validation data: {err}') from None
    if model.gradient:   # fail now, not after the first epoch's validation
        stale = sorted({f for f, b in zip(data_files + (val_files if args.val else []),
                                           blobs + (val_blobs if args.val else []))
                        if any('grad_rho_sq' not in s for s in b['samples'])})
        if stale:
            raise SystemExit(f'{stale}: no grad_rho_sq/proj_grad labels (made before they '
                             'existed, or with --no-gradient-labels), which a --gradient model '
                             'needs; regenerate them with the same command without that flag')
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    nstep = args.epochs * ((len(train) + args.batch - 1) // args.batch)
    ckpt_path = os.path.join(args.out, 'checkpoint.pt')
    start, best = 0, (np.inf, None)
    if args.resume:
        ck = load_checkpoint(ckpt_path)
        if ck is not None:
            # the same set whatever the paths are called: compare what made the data
            same = {k: v for k, v in validation.items() if k != 'files'}
            if 'validation' in ck and \
                    {k: v for k, v in ck['validation'].items() if k != 'files'} != same:
                raise SystemExit(f'{ckpt_path} was validated on {ck["validation"]}, not '
                                 f'{validation}: best epochs would not compare; use a new --out')
            try:
                model.load_state_dict(ck['model'])
            except RuntimeError as err:    # e.g. --gradient changed since the checkpoint
                raise SystemExit(f'{ckpt_path} holds another kind of model: {err}') from None
            opt.load_state_dict(ck['opt'])
            start, best = ck['epoch'], ck['best']
            init_card = init_of_resumed_run(ck, init_card)
            print(f'resumed from {ckpt_path} at epoch {start}', file=sys.stderr)
    step = start * ((len(train) + args.batch - 1) // args.batch)
    prog = Progress(nstep, os.path.join(args.out, 'train.log'), every=10, start_step=step)
    for epoch in range(start, args.epochs):
        order = np.random.default_rng([args.seed, epoch]).permutation(len(train))
        model.train()
        for b0 in range(0, len(order), args.batch):
            opt.zero_grad()
            tot = 0.0
            for i in order[b0:b0 + args.batch]:
                loss, _ = sample_loss(model, train[i], args.lam, args.path_rel)
                (loss / len(order[b0:b0 + args.batch])).backward()
                tot += loss.item()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            lr = lr_at(step, nstep, args.lr)
            for group in opt.param_groups:
                group['lr'] = lr
            opt.step()
            step += 1
            prog.update(step, epoch=epoch + 1, loss=tot / len(order[b0:b0 + args.batch]),
                        lr=lr)
        rows = evaluate(model, val, dtype, device, args.path_rel)
        vs = summarize(rows)
        # selection: mean error in the loss's units (= MAE / 10 mHa without path samples)
        score = float(np.mean([r[3] for r in rows]))
        line = (f'epoch {epoch + 1}: val T_P MAE {vs["all"]["mae_kcal"]:.3f} kcal/mol, '
                f'max {vs["all"]["max_kcal"]:.3f}, scaled {score:.3f}')
        print(line, file=sys.stderr, flush=True)
        with open(os.path.join(args.out, 'train.log'), 'a') as f:
            f.write(line + '\n')
        if score < best[0]:
            best = (score,
                    {k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
        save_checkpoint(ckpt_path, model=model.state_dict(), opt=opt.state_dict(),
                        epoch=epoch + 1, best=best, validation=validation, init=init_card)
    prog.close()
    model.load_state_dict(best[1])
    model = model.double()
    metrics = {'validation': summarize(evaluate(model, val, torch.float64, device))}
    if args.test:
        test = load_samples(args.test.split(','))[1]
        metrics['held_out'] = summarize(evaluate(model, test, torch.float64, device))
    weights = args.weights or os.path.join(args.out, 'kineticnet.pt')
    os.makedirs(os.path.dirname(os.path.abspath(weights)), exist_ok=True)
    torch.save({'config': model.config,
                'state_dict': {k: v.cpu() for k, v in model.state_dict().items()}}, weights)
    cmd = 'python -m pyscf_ml.train kineticnet ' + ' '.join(sys.argv[1:] if argv is None
                                                            else argv)
    write_card(weights[:-3] + '.json', weights,
               name='kineticnet', architecture='KineticNet-style e3nn point convolutions: '
               'grid->atom density moments, 1 atom-atom tensor-product layer, atom->grid '
               'invariant readout; T_s = T_vW + C_F sum w rho^(5/3) softplus(F)'
               + ('; F also reads log(1 + s^2) at each grid point' if model.gradient else ''),
               config=model.config, data=[b.get('command', '') for b in blobs],
               data_args=[b.get('args') for b in blobs], command=cmd, commit=commit,
               validation_data=validation,
               init=init_card,
               reference='RKS LDA (lda,vwn), unc-cc-pvdz, random Gaussian potentials',
               units='Hartree; metrics in kcal/mol', metrics=metrics,
               train_samples=len(train), val_samples=len(val),
               supported_elements=species, time=time.strftime('%Y-%m-%d %H:%M:%S UTC',
                                                              time.gmtime()))
    print(f'wrote {weights}; validation/held-out metrics:', file=sys.stderr)
    for k, v in metrics.items():
        print(k, {n: round(m['mae_kcal'], 3) for n, m in v.items()}, file=sys.stderr)
    return 0
