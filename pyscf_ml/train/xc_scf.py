'''Train an nn-* functional with the SCF in the loop on CCSD densities and G2 atomization
energies (second stage, after the energy-density fit of ``pyscf_ml.train.xc``).

    python -m pyscf_ml.data xc-reference --set paper --out data/xc_reference_paper.npz
    python -m pyscf_ml.train xc --form nn-metagga --reference data/xc_reference_paper.npz \\
        --init pyscf_ml/weights/nn_metagga.pt --out runs/nn_metagga_scf.pt \\
        --log runs/nn_metagga_scf.log --checkpoint runs/nn_metagga_scf.ckpt --resume

Loss, evaluated at the self-consistent densities of the current network:

    L = energy_weight * mean_m (AE_m - De_m)^2          [kcal/mol]^2, molecules m
      + density_weight * mean_m sum_g |w_g| (n_m,g - n^CCSD_m,g)^2

The gradient is exact (``pyscf_ml.train.scf_loop``): the explicit dE_xc/dtheta for the energies
(the KS energy is stationary), and the adjoint CPKS equations with the network's own second
derivatives for the densities.  Each SCF starts from the previous step's density.  Atoms enter
through the atomization energies only: their UKS states break spherical symmetry, so their CPKS
equations are near-singular and the density term would be ill-defined.
'''
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from pyscf import gto

from pyscf_ml.data import g2
from pyscf_ml.data.g2 import HARTREE_TO_KCAL
from pyscf_ml.data.xc_reference import TRAINING_SETS, systems_of
from pyscf_ml.modelcard import git_commit, sha256_of, write_card
from pyscf_ml.train.frozen_density import FrozenSystem, trust_region_step
from pyscf_ml.train.progress import Progress, load_checkpoint, save_checkpoint
from pyscf_ml.train.scf_loop import (
    SCFNotConverged,
    TrainingSystem,
    atomization_energies,
    flat_grad,
)
from pyscf_ml.xc.forms import NagaiMLP, form_spec
from pyscf_ml.xc.functional import NNFunctional
from pyscf_ml.xc.nra_kernel import clear_kernel_cache
from pyscf_ml.xc.registry import register_functional, unregister
from pyscf_ml.xc.weights_io import card_path_for, load_state_dict, save_state_dict


class SCFLoss:
    '''The loss above and its exact gradient for a set of systems.

    ``references``: the decoded xc-reference file (``load_reference``).  The network is
    registered as ``xc_name`` (a temporary name) before each round of SCFs.'''

    def __init__(self, form, references, basis=None, grid_level=3, density_fit=True,
                 energy_weight=1.0, density_weight=100.0, xc_name=None, conv_tol=1e-9):
        self.spec = form_spec(form)
        self.xc_name = xc_name or f'nn-training-{self.spec.name[3:]}'
        self.energy_weight, self.density_weight = energy_weight, density_weight
        meta = references['meta']
        basis = basis or meta['basis']
        self.molecules = {m: meta['entries'][m]['composition'] for m in meta['molecules']}
        self.de_exp = {m: meta['entries'][m]['de_exp'] for m in meta['molecules']}
        # the name must resolve while the SCF objects are built (density fitting asks whether it
        # is a hybrid); the network itself is registered under it at every evaluation
        register_functional(NNFunctional(self.xc_name, self.spec.name, None, {}), overwrite=True)
        self.systems = {}
        for name in meta['systems']:
            entry = meta['entries'][name]
            mol = gto.M(atom=entry['atom'], spin=entry['spin'], basis=basis, verbose=0)
            dm_ref = references['dm'][name] if name in self.molecules else None
            # (only the molecules' density-term CPKS needs a kernel after the SCF round; the
            # other kernels are not pinned, so that dozens of molecules fit in memory)
            keep = bool(density_weight) and name in self.molecules
            system = TrainingSystem(name, mol, self.spec, self.xc_name, dm_ref, grid_level,
                                    density_fit, conv_tol, keep_kernel=keep)
            # the first SCF starts from the CCSD density, so that a degenerate ground state
            # lands in the same component as the reference (NO's unpaired pi electron: from
            # MINAO, KS picked the other pi orbital, same energy, 14x the density loss), and
            # DIIS does not wander (NO from MINAO needed the second-order fallback)
            dm_start = np.asarray(references['dm'][name])
            system.dm = dm_start.sum(0) if mol.spin == 0 else dm_start
            self.systems[name] = system

    def register(self, net):
        register_functional(NNFunctional(self.xc_name, self.spec.name, None, _copy(net)),
                            overwrite=True)

    def close(self):
        unregister(self.xc_name)

    def __call__(self, net, grad=True):
        '''Loss value and its parts; with ``grad`` the exact gradient is left in net's .grad.'''
        self.register(net)
        energies, frozen = {}, {}
        for name, s in self.systems.items():
            energies[name] = s.run_scf()
            if grad:
                # E_xc[D_s; theta] at this SCF density, taken while the grid's kernel is still
                # cached: its theta-gradient is dE_KS/dtheta, and it is the frozen-density
                # model (a value-only round needs neither)
                frozen[name] = FrozenSystem(s, net)
        loss_e, err, dl_de = self.energy_loss(energies)
        nmol = len(self.molecules)
        if grad:
            net.zero_grad()
            for name, f in frozen.items():
                if dl_de[name]:
                    (dl_de[name] * f.energy(net)).backward()
        loss_d, dens, terms = 0.0, {}, {}
        if self.density_weight:
            scale = self.density_weight / nmol
            for m in self.molecules:
                s = self.systems[m]
                value, dl_dd = s.density_loss()
                dens[m] = value
                loss_d += scale * value
                if grad:
                    before = flat_grad(net)
                    z = s.density_response(net, scale * dl_dd)
                    s.adjoint_term(net, z).backward()
                    # each molecule's term and its gradient (for the frozen-density model)
                    terms[m] = (scale * value, flat_grad(net) - before)
        parts = dict(loss_energy=loss_e, loss_density=loss_d, ae_error=err, density=dens,
                     cycles={n: s.cycles for n, s in self.systems.items()},
                     density_terms=terms, frozen=frozen)
        return loss_e + loss_d, parts

    def energy_loss(self, energies):
        '''The energy term from every system's total energy (Hartree): its value, the AE
        errors (kcal/mol) and dL_E/dE_s for every system s (the energies' theta-gradients are
        explicit, so this is all the gradient needs).'''
        err = ae_errors(self.molecules, self.de_exp, energies)
        nmol = len(self.molecules)
        loss = self.energy_weight * sum(e * e for e in err.values()) / nmol
        dl_de = dict.fromkeys(energies, 0.0)
        for m, comp in self.molecules.items():
            g = 2 * self.energy_weight * err[m] / nmol * HARTREE_TO_KCAL
            dl_de[m] -= g
            for a, c in comp.items():
                dl_de[a] += c * g
        return loss, err, dl_de

    def warm_start(self):
        return {n: s.dm for n, s in self.systems.items()}

    def set_warm_start(self, dms):
        for n, dm in (dms or {}).items():
            if n in self.systems:
                self.systems[n].dm = dm


class HeldOutSet:
    '''G2-1 molecules outside the training set, converged self-consistently (no gradient) at
    the weights of every accepted step: their atomization-energy MAE selects the weights that
    are written.  G2-2 molecules are refused (G2-2 is the test set).'''

    def __init__(self, molecules, spec, xc_name, basis, grid_level=3, density_fit=True,
                 conv_tol=1e-9):
        for m in molecules:
            if g2.subset_of(m) != 'G2-1':
                raise SystemExit(f'{m} is not a G2-1 molecule: G2-2 is the test set and is '
                                 f'never used for training or model selection')
        self.molecules = {m: g2.composition(m) for m in molecules}
        self.de_exp = {m: g2.atomization_energy(m) for m in molecules}
        self.settings = dict(spec=spec, xc_name=xc_name, basis=basis, grid_level=grid_level,
                             density_fit=density_fit, conv_tol=conv_tol)
        self.dms = dict.fromkeys(systems_of(molecules))   # warm starts (None: minao)

    def _system(self, name):
        # built afresh for every SCF and dropped after it: dozens of live SCF objects with
        # their grids, fitted integrals and NN-NRA kernels do not fit in memory
        st = self.settings
        s = TrainingSystem(name, g2.mole(name, st['basis']), st['spec'], st['xc_name'], None,
                           st['grid_level'], st['density_fit'], st['conv_tol'],
                           keep_kernel=False)
        s.dm = self.dms[name]
        return s

    def __call__(self, loss_fn, net):
        '''AE errors (kcal/mol) at the network's weights; SCF failures are listed, never
        dropped: a failed set has no MAE and cannot be selected.'''
        loss_fn.register(net)
        energies, failed = {}, []
        for name in self.dms:
            shared = loss_fn.systems.get(name)
            if shared is not None and shared.e_tot is not None:
                # an atom the training round has just converged at these weights
                energies[name] = shared.e_tot
                continue
            s = self._system(name)
            try:
                energies[name] = s.run_scf()
                self.dms[name] = s.dm
            except SCFNotConverged:
                failed.append(name)
            del s
            clear_kernel_cache()
        if failed:
            return dict(mae=None, failed=failed, ae_error={})
        err = ae_errors(self.molecules, self.de_exp, energies)
        return dict(mae=mae_of(err), failed=[], ae_error=err)

    def warm_start(self):
        return dict(self.dms)

    def set_warm_start(self, dms):
        for n, dm in (dms or {}).items():
            if n in self.dms:
                self.dms[n] = dm


def ae_errors(molecules, de_exp, energies):
    '''AE - De (kcal/mol) of each molecule from total energies (Hartree) of it and its atoms.'''
    ae = atomization_energies(molecules, energies, HARTREE_TO_KCAL)
    return {m: ae[m] - de_exp[m] for m in molecules}


def mae_of(errors):
    return float(np.mean(np.abs(list(errors.values()))))


def load_reference(path):
    z = np.load(path)
    meta = json.loads(str(z['meta']))
    return dict(meta=meta, dm={n: z[f'{n}/dm'] for n in meta['systems']})


def _held_out_names(arg, training):
    if not arg:
        return []
    if arg == 'rest':   # every G2-1 molecule not trained on
        return [m for m in g2.molecule_names('G2-1') if m not in training]
    names = arg.split(',')
    overlap = sorted(set(names) & set(training))
    if overlap:
        raise SystemExit(f'held-out molecules {overlap} are in the training set')
    return names


def main(argv=None):
    p = argparse.ArgumentParser(prog='python -m pyscf_ml.train xc --reference ...',
                                description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--form', required=True, choices=['nn-lsda', 'nn-gga', 'nn-metagga', 'nn-nra'])
    p.add_argument('--reference', required=True, help='file from `pyscf_ml.data xc-reference`')
    p.add_argument('--init', help='starting weights (default: the shipped stage-1 weights)')
    p.add_argument('--out', required=True, help='weight file to write (card written beside)')
    p.add_argument('--steps', type=int, default=60,
                   help='optimiser steps (one SCF round of the training set each)')
    p.add_argument('--optimizer', choices=['adam', 'trust-region'], default='adam',
                   help='adam: one Adam step per SCF round; trust-region: L-BFGS on the '
                        'frozen-density model between SCF rounds (pyscf_ml.train.frozen_density)')
    p.add_argument('--lr', type=float, default=2e-4, help='Adam learning rate')
    p.add_argument('--mu', type=float, default=1e4,
                   help='trust-region: initial proximal weight (larger = shorter steps; a '
                        'resumed run continues with the checkpoint\'s)')
    p.add_argument('--inner-iter', type=int, default=30,
                   help='trust-region: L-BFGS iterations per proposal')
    p.add_argument('--held-out', default='',
                   help="trust-region: G2-1 molecules for model selection ('rest' = all G2-1 "
                        "molecules not in the reference file); the weights with the lowest "
                        "held-out MAE are written (default: lowest training loss)")
    p.add_argument('--energy-weight', type=float, default=1.0)
    p.add_argument('--density-weight', type=float, default=100.0)
    p.add_argument('--grid-level', type=int, default=3)
    p.add_argument('--no-density-fit', action='store_true')
    p.add_argument('--conv-tol', type=float, default=1e-9, help='SCF energy tolerance')
    p.add_argument('--log')
    p.add_argument('--checkpoint')
    p.add_argument('--resume', action='store_true')
    p.add_argument('--time-limit', type=float, default=0,
                   help='stop (after checkpointing) once this many seconds have passed; rerun '
                        'with --resume to continue')
    p.add_argument('--threads', type=int, default=0)
    args = p.parse_args(argv)
    if args.held_out and args.optimizer != 'trust-region':
        p.error('--held-out needs --optimizer trust-region')
    if args.threads:
        torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    commit = git_commit()   # before the weights are written: that makes the tree dirty
    spec = form_spec(args.form)
    init = args.init or os.path.join(os.path.dirname(__file__), '..', 'weights',
                                     f'{spec.name.replace("-", "_")}.pt')
    net = NagaiMLP(spec.n_features).double()
    net.load_state_dict(load_state_dict(init, spec.name))
    refs = load_reference(args.reference)
    held_names = _held_out_names(args.held_out, refs['meta']['molecules'])
    loss_fn = SCFLoss(spec.name, refs, grid_level=args.grid_level,
                      density_fit=not args.no_density_fit, energy_weight=args.energy_weight,
                      density_weight=args.density_weight, conv_tol=args.conv_tol)
    held = HeldOutSet(held_names, spec, loss_fn.xc_name, refs['meta']['basis'],
                      args.grid_level, not args.no_density_fit, args.conv_tol) \
        if held_names else None
    ckpt = load_checkpoint(args.checkpoint) if args.resume and args.checkpoint else None
    if ckpt is not None and ckpt.get('optimizer', 'adam') != args.optimizer:
        raise SystemExit(f'{args.checkpoint} was written by --optimizer '
                         f'{ckpt.get("optimizer", "adam")}, not {args.optimizer}')
    if ckpt is not None and ckpt.get('held_out', []) != held_names:
        raise SystemExit(f'{args.checkpoint} selected on held-out molecules '
                         f'{ckpt.get("held_out", [])}, not {held_names}: resume with the same '
                         f'--held-out')
    train = _train_adam if args.optimizer == 'adam' else _train_trust_region
    status, best = train(args, net, loss_fn, held, ckpt, t_start)
    loss_fn.close()
    if status:
        return status
    if best is None:
        raise SystemExit('no point to write: every accepted point had a held-out SCF failure')
    # write the selected weights (training loss or held-out G2-1 MAE: no G2-2 molecule is ever
    # evaluated here)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    save_state_dict(args.out, spec.name, best['net'])
    meta = refs['meta']
    hyper = dict(steps=args.steps, energy_weight=args.energy_weight,
                 density_weight=args.density_weight, grid_level=args.grid_level,
                 density_fit=not args.no_density_fit, conv_tol=args.conv_tol,
                 precision='float64')
    if args.optimizer == 'adam':
        hyper.update(lr=args.lr, optimizer='Adam, full batch', selection='lowest training loss')
    else:
        hyper.update(optimizer='trust region: L-BFGS on the frozen-density model between SCF '
                               'rounds', mu=args.mu, inner_iter=args.inner_iter,
                     selection=('lowest held-out G2-1 MAE' if held else
                                'lowest training loss'))
    metrics = dict(best_step=best['step'], loss=best['loss'],
                   training_ae_error_kcal={m: round(v, 3) for m, v in
                                           best['parts']['ae_error'].items()},
                   training_density_loss=best['parts']['density'])
    if held:
        metrics.update(held_out_molecules=held_names, held_out_mae_kcal=best['held_out_mae'],
                       held_out_mae_initial_kcal=best['held_out_mae_initial'])
    card = write_card(
        card_path_for(args.out), args.out, name=spec.name, form=spec.name,
        stage='2: SCF in the loop on CCSD densities and experimental G2-1 atomization energies',
        training_data=dict(file=os.path.basename(args.reference),
                           sha256=sha256_of(args.reference), molecules=meta['molecules'],
                           systems=meta['systems'], basis=meta['basis'], method=meta['method'],
                           atomization_energies='ase G2/97 (De from dfH298, ZPE, H298-H0)'),
        initial_weights=dict(file=os.path.basename(init), sha256=sha256_of(init)),
        hyperparameters=hyper,
        command='python -m pyscf_ml.train ' + ' '.join(['xc'] + list(argv or sys.argv[1:])),
        data_command='python -m pyscf_ml.data xc-reference '
                     + (f'--molecules {",".join(meta["molecules"])}'
                        if meta['set'] not in TRAINING_SETS else f'--set {meta["set"]}')
                     + f' --basis {meta["basis"]} --out {args.reference}',
        commit=commit, metrics=metrics,
        train_seconds=round(time.perf_counter() - t_start, 1),
        reference='Nagai, Akashi, Sugino, npj Comput. Mater. 6, 43 (2020)')
    print(json.dumps(card['metrics'], indent=1))
    print(f'wrote {args.out}')
    return 0


def _time_up(args, t_start, step):
    if args.time_limit and time.perf_counter() - t_start > args.time_limit and step < args.steps:
        print(f'time limit reached at step {step}; rerun with --resume to continue',
              file=sys.stderr)
        return True
    return False


def _train_adam(args, net, loss_fn, held, ckpt, t_start):
    '''One Adam step per SCF round.  Returns (status, best).'''
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    step, history, best = 0, [], None
    if ckpt is not None:
        net.load_state_dict(ckpt['net'])
        opt.load_state_dict(ckpt['opt'])
        step, history, best = ckpt['step'], ckpt['history'], ckpt['best']
        loss_fn.set_warm_start(ckpt['dms'])
        print(f'resumed from {args.checkpoint} at step {step}', file=sys.stderr)
    progress = Progress(args.steps, args.log, start_step=step, time_limit=args.time_limit)
    try:
        while step < args.steps:
            try:
                loss, parts = loss_fn(net)
            except SCFNotConverged as err:
                if best is None:
                    raise SystemExit(f'{err} at the starting weights: nothing to train from')
                # a step that broke an SCF: undo it, halve the learning rate and go on
                print(f'step {step}: {err}; reverting to the best weights, lr/2',
                      file=sys.stderr)
                net.load_state_dict(best['net'])
                for g in opt.param_groups:
                    g['lr'] /= 2
                continue
            mae = mae_of(parts['ae_error'])
            history.append(dict(step=step, loss=loss, ae_mae=mae, **{
                k: parts[k] for k in ('loss_energy', 'loss_density', 'ae_error')}))
            if best is None or loss < best['loss']:
                best = dict(loss=loss, step=step, parts=_plain(parts), net=_copy(net))
            gnorm = float(flat_grad(net).norm())
            opt.step()
            step += 1
            progress.update(step, loss=loss, ae_mae=mae, l_e=parts['loss_energy'],
                            l_rho=parts['loss_density'], gnorm=gnorm,
                            cycles=sum(parts['cycles'].values()))
            if args.checkpoint:
                save_checkpoint(args.checkpoint, optimizer='adam', net=net.state_dict(),
                                opt=opt.state_dict(), step=step, history=history, best=best,
                                dms=loss_fn.warm_start())
            if _time_up(args, t_start, step):
                return 3, best
    finally:
        progress.close()
    return 0, best


def _train_trust_region(args, net, loss_fn, held, ckpt, t_start):
    '''Trust-region steps on the frozen-density model (pyscf_ml.train.frozen_density), one SCF
    round each; the held-out set is converged at every accepted point.  Returns (status,
    best).'''
    step, history, best, mu, held_initial = 0, [], None, args.mu, None
    if ckpt is not None:
        net.load_state_dict(ckpt['net'])
        step, history, best, mu = ckpt['step'], ckpt['history'], ckpt['best'], ckpt['mu']
        held_initial = ckpt['held_out_mae_initial']
        loss_fn.set_warm_start(ckpt['dms'])
        if held:
            held.set_warm_start(ckpt['held_dms'])
        print(f'resumed from {args.checkpoint} at step {step}', file=sys.stderr)
    if step >= args.steps:   # a finished run resumed (e.g. with fewer --steps): write it
        return 0, best
    try:
        loss, parts = loss_fn(net)   # the SCF round at the current point (warm after a resume)
    except SCFNotConverged as err:
        raise SystemExit(f'{err} at the starting weights: nothing to train from')
    state = dict(loss=loss, parts=parts, mu=mu)
    progress = Progress(args.steps, args.log, start_step=step, time_limit=args.time_limit)

    def record(accepted, info):
        nonlocal best, held_initial
        h = held(loss_fn, net) if (held and accepted) else None
        if h is not None and step == 0:
            held_initial = h['mae']
        mae = mae_of(state['parts']['ae_error'])
        history.append(dict(step=step, accepted=accepted, loss=state['loss'], ae_mae=mae,
                            ae_error=dict(state['parts']['ae_error']), held_out=h, **info))
        score = (h['mae'] if h else None) if held else state['loss']
        if accepted and score is not None and (best is None or score < best['score']):
            best = dict(score=score, loss=state['loss'], step=step,
                        parts=_plain(state['parts']), net=_copy(net),
                        held_out_mae=h['mae'] if h else None,
                        held_out_mae_initial=held_initial)
        fields = dict(loss=state['loss'], ae_mae=mae, accepted=int(accepted), **{
            k: v for k, v in info.items() if k in ('predicted', 'actual', 'ratio', 'mu')})
        if h is not None:
            fields['held_mae'] = h['mae'] if h['mae'] is not None else f'failed:{h["failed"]}'
        return fields

    try:
        if step == 0 and not history:
            record(True, {})
        while step < args.steps:
            state, accepted, info = trust_region_step(loss_fn, net, state,
                                                      max_iter=args.inner_iter)
            if info.get('scf_failed'):
                print(f'step {step}: {info["scf_failed"]}; step rejected', file=sys.stderr)
            step += 1
            fields = record(accepted, info)
            progress.update(step, **fields)
            if args.checkpoint:
                save_checkpoint(args.checkpoint, optimizer='trust-region', net=net.state_dict(),
                                step=step, history=history, best=best, mu=state['mu'],
                                held_out_mae_initial=held_initial,
                                held_out=list(held.molecules) if held else [],
                                dms=loss_fn.warm_start(),
                                held_dms=held.warm_start() if held else None)
            if _time_up(args, t_start, step):
                return 3, best
    finally:
        progress.close()
    return 0, best


def _copy(net):
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def _plain(parts):
    '''The parts worth keeping in a checkpoint (no gradient tensors).'''
    return {k: v for k, v in parts.items() if k not in ('density_terms', 'frozen')}
