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

from pyscf_ml.data.g2 import HARTREE_TO_KCAL
from pyscf_ml.modelcard import git_commit, sha256_of, write_card
from pyscf_ml.train.progress import Progress, load_checkpoint, save_checkpoint
from pyscf_ml.train.scf_loop import (SCFNotConverged, TrainingSystem, atomization_energies,
                                     flat_grad)
from pyscf_ml.xc.forms import NagaiMLP, form_spec
from pyscf_ml.xc.functional import NNFunctional
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
            system = TrainingSystem(name, mol, self.spec, self.xc_name, dm_ref, grid_level,
                                    density_fit, conv_tol)
            # the first SCF starts from the CCSD density, so that a degenerate ground state
            # lands in the same component as the reference (NO's unpaired pi electron: from
            # MINAO, KS picked the other pi orbital, same energy, 14x the density loss), and
            # DIIS does not wander (NO from MINAO needed the second-order fallback)
            dm_start = np.asarray(references['dm'][name])
            system.dm = dm_start.sum(0) if mol.spin == 0 else dm_start
            self.systems[name] = system

    def register(self, net):
        state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        register_functional(NNFunctional(self.xc_name, self.spec.name, None, state),
                            overwrite=True)

    def close(self):
        unregister(self.xc_name)

    def __call__(self, net, grad=True):
        '''Loss value and its parts; with ``grad`` the exact gradient is left in net's .grad.'''
        self.register(net)
        energies = {name: s.run_scf() for name, s in self.systems.items()}
        ae = atomization_energies(self.molecules, energies, HARTREE_TO_KCAL)
        err = {m: ae[m] - self.de_exp[m] for m in self.molecules}
        nmol = len(self.molecules)
        loss_e = self.energy_weight * sum(e * e for e in err.values()) / nmol
        # dL_E/dE_s for every system s (the energies' theta-gradients are explicit)
        dl_de = dict.fromkeys(self.systems, 0.0)
        for m, comp in self.molecules.items():
            g = 2 * self.energy_weight * err[m] / nmol * HARTREE_TO_KCAL
            dl_de[m] -= g
            for a, c in comp.items():
                dl_de[a] += c * g
        if grad:
            net.zero_grad()
            for name, s in self.systems.items():
                if dl_de[name]:
                    (dl_de[name] * s.explicit_energy(net)).backward()
        loss_d, dens = 0.0, {}
        if self.density_weight:
            scale = self.density_weight / nmol
            for m in self.molecules:
                s = self.systems[m]
                value, dl_dd = s.density_loss()
                dens[m] = value
                loss_d += scale * value
                if grad:
                    z = s.density_response(net, scale * dl_dd)
                    s.adjoint_term(net, z).backward()
        parts = dict(loss_energy=loss_e, loss_density=loss_d, ae_error=err, density=dens,
                     cycles={n: s.cycles for n, s in self.systems.items()})
        return loss_e + loss_d, parts

    def warm_start(self):
        return {n: s.dm for n, s in self.systems.items()}

    def set_warm_start(self, dms):
        for n, dm in (dms or {}).items():
            if n in self.systems:
                self.systems[n].dm = dm


def load_reference(path):
    z = np.load(path)
    meta = json.loads(str(z['meta']))
    return dict(meta=meta, dm={n: z[f'{n}/dm'] for n in meta['systems']})


def main(argv=None):
    p = argparse.ArgumentParser(prog='python -m pyscf_ml.train xc --reference ...',
                                description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--form', required=True, choices=['nn-lsda', 'nn-gga', 'nn-metagga', 'nn-nra'])
    p.add_argument('--reference', required=True, help='file from `pyscf_ml.data xc-reference`')
    p.add_argument('--init', help='starting weights (default: the shipped stage-1 weights)')
    p.add_argument('--out', required=True, help='weight file to write (card written beside)')
    p.add_argument('--steps', type=int, default=60, help='optimiser steps (one SCF round each)')
    p.add_argument('--lr', type=float, default=2e-4, help='Adam learning rate')
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
    loss_fn = SCFLoss(spec.name, refs, grid_level=args.grid_level,
                      density_fit=not args.no_density_fit, energy_weight=args.energy_weight,
                      density_weight=args.density_weight, conv_tol=args.conv_tol)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    step, history, best = 0, [], None
    if args.resume and args.checkpoint:
        ckpt = load_checkpoint(args.checkpoint)
        if ckpt is not None:
            net.load_state_dict(ckpt['net'])
            opt.load_state_dict(ckpt['opt'])
            step, history, best = ckpt['step'], ckpt['history'], ckpt['best']
            loss_fn.set_warm_start(ckpt['dms'])
            print(f'resumed from {args.checkpoint} at step {step}', file=sys.stderr)
    progress = Progress(args.steps, args.log)
    while step < args.steps:
        try:
            loss, parts = loss_fn(net)
        except SCFNotConverged as err:
            if best is None:
                raise SystemExit(f'{err} at the starting weights: nothing to train from')
            # a step that broke an SCF: undo it, halve the learning rate and go on
            print(f'step {step}: {err}; reverting to the best weights, lr/2', file=sys.stderr)
            net.load_state_dict(best['net'])
            for g in opt.param_groups:
                g['lr'] /= 2
            continue
        mae = float(np.mean(np.abs(list(parts['ae_error'].values()))))
        history.append(dict(step=step, loss=loss, ae_mae=mae, **{
            k: parts[k] for k in ('loss_energy', 'loss_density', 'ae_error')}))
        if best is None or loss < best['loss']:
            best = dict(loss=loss, step=step, parts=parts,
                        net={k: v.detach().clone() for k, v in net.state_dict().items()})
        gnorm = float(flat_grad(net).norm())
        opt.step()
        step += 1
        progress.update(step, loss=loss, ae_mae=mae, l_e=parts['loss_energy'],
                        l_rho=parts['loss_density'], gnorm=gnorm,
                        cycles=sum(parts['cycles'].values()))
        if args.checkpoint:
            save_checkpoint(args.checkpoint, net=net.state_dict(), opt=opt.state_dict(),
                            step=step, history=history, best=best, dms=loss_fn.warm_start())
        if args.time_limit and time.perf_counter() - t_start > args.time_limit and \
                step < args.steps:
            print(f'time limit reached at step {step}; rerun with --resume to continue',
                  file=sys.stderr)
            progress.close()
            loss_fn.close()
            return 3
    progress.close()
    loss_fn.close()
    # ship the best weights seen (training loss only: no G2-2 molecule is ever evaluated here)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    save_state_dict(args.out, spec.name, best['net'])
    meta = refs['meta']
    card = write_card(
        card_path_for(args.out), args.out, name=spec.name, form=spec.name,
        stage='2: SCF in the loop on CCSD densities and experimental G2-1 atomization energies',
        training_data=dict(file=os.path.basename(args.reference),
                           sha256=sha256_of(args.reference), molecules=meta['molecules'],
                           systems=meta['systems'], basis=meta['basis'], method=meta['method'],
                           atomization_energies='ase G2/97 (De from dfH298, ZPE, H298-H0)'),
        initial_weights=dict(file=os.path.basename(init), sha256=sha256_of(init)),
        hyperparameters=dict(steps=args.steps, lr=args.lr, optimizer='Adam, full batch',
                             energy_weight=args.energy_weight,
                             density_weight=args.density_weight, grid_level=args.grid_level,
                             density_fit=not args.no_density_fit, conv_tol=args.conv_tol,
                             precision='float64',
                             selection='lowest training loss'),
        command='python -m pyscf_ml.train ' + ' '.join(['xc'] + list(argv or sys.argv[1:])),
        data_command=f'python -m pyscf_ml.data xc-reference --set {meta["set"]} '
                     f'--basis {meta["basis"]} --out {args.reference}',
        commit=commit,
        metrics=dict(best_step=best['step'], loss=best['loss'],
                     training_ae_error_kcal={m: round(v, 3) for m, v in
                                             best['parts']['ae_error'].items()},
                     training_density_loss=best['parts']['density']),
        train_seconds=round(time.perf_counter() - t_start, 1),
        reference='Nagai, Akashi, Sugino, npj Comput. Mater. 6, 43 (2020)')
    print(json.dumps(card['metrics'], indent=1))
    print(f'wrote {args.out}')
    return 0
