'''Would energy-only SCF-in-the-loop training generalise?  A linearised screen on G2-1.

Self-consistent training on atomization energies moves the weights by small steps, and the
change of every atomization energy is then, to first order, J dtheta with
J_m = dAE_m/dtheta = sum_atoms c_a dE_xc[D_a]/dtheta - dE_xc[D_m]/dtheta at the converged
densities (E_KS is stationary, so no density response enters).  This script converges every
G2-1 molecule and atom once at the given weights (def2-TZVP, default grids, density fitting,
the trainer's settings), takes J, and asks what ridge-regularised least squares on the
training molecules predicts for molecules it did not see:

    dtheta(mu) = argmin  mean_{m in train} (e_m + J_m dtheta)^2 + mu/2 |dtheta|^2

(mu as the trainer's ``--mu``; large mu = short steps).  Two splits, both inside G2-1 (G2-2 is
the test set and is never touched here):
- the trainer's ``g2-1-3of4`` split: 41 molecules fitted, the 14 of ``G2_1_QUARTER`` predicted;
- five-fold cross-validation over all 55 (fold k = molecules i with i % 5 == k, G2/97 order).
and for several sets of trainable parameters (all layers, the output layer only, ...), since a
smaller correction may transfer where the full network overfits 41 numbers with 20901 weights.

The prediction is linear in dtheta: it is trustworthy only for steps of the size the trainer
takes (stage 2q's first step, |dtheta| = 0.011: actual over predicted loss decrease 0.997);
the table lists |dtheta| so that larger ones can be discounted, and ``--check-mu`` measures
where the linearisation stops holding.

    python benchmarks/xc_linear_generalisation.py [--weights FILE] [--threads 2] \\
        [--cache runs/xc_jacobian.npz] [--warm-start CHECKPOINT] \\
        [--density runs/data/xc_reference_g2-1-3of4.npz]

``--density`` adds the trainer's density term (``--density-weight``): for every molecule of that
xc-reference file (all must be training molecules of the split) one SCF from its CCSD density
and one adjoint CPKS solve give L_m and dL_m/dtheta, which enter as the trainer's rank-one model
(r_m + a_m . dtheta)^2.  A second table then lists the steps for several density weights, and
the density term alone at the step lengths of the first.

The per-system energies and gradients are cached in ``--cache`` (resumable; the file records
the weights' sha256, form and basis, and a cache of other weights is refused).
'''
import argparse
import hashlib
import json
import os
import time

import numpy as np
import torch

import pyscf_ml  # noqa: F401  (registers the nn-* names)
from pyscf_ml.data import g2
from pyscf_ml.data.xc_reference import G2_1_QUARTER, systems_of
from pyscf_ml.modelcard import sha256_of
from pyscf_ml.train.frozen_density import FrozenSystem
from pyscf_ml.train.scf_loop import (
    SCFNotConverged,
    TrainingSystem,
    atomization_energies,
    flat_grad,
)
from pyscf_ml.xc.forms import NagaiMLP, form_spec
from pyscf_ml.xc.functional import NNFunctional
from pyscf_ml.xc.nra_kernel import clear_kernel_cache
from pyscf_ml.xc.registry import lookup, register_functional, unregister
from pyscf_ml.xc.weights_io import load_state_dict

MUS = [1e6, 1e5, 3e4, 1e4, 3e3, 1e3, 1e2]
GROUPS = {'all': None, 'output layer (fc4)': ('fc4',), 'last two (fc3, fc4)': ('fc3', 'fc4'),
          'input layer (fc1)': ('fc1',)}


def converge(form, state, basis, cache, warm, molecules):
    '''E_tot (Hartree) and dE_xc/dtheta at the SCF density of every molecule and its atoms,
    with the network of state dict ``state``.'''
    spec = form_spec(form)
    net = _network(spec, state)
    done = _open_cache(cache, f'{form} {basis} {_state_hash(state)}', '--cache')
    xc_name = 'nn-linear-screen'
    register_functional(NNFunctional(xc_name, spec.name, None, net.state_dict()), overwrite=True)
    try:
        for name in systems_of(molecules):
            if f'{name}/e' in done:
                continue
            t0 = time.perf_counter()
            s = TrainingSystem(name, g2.mole(name, basis), spec, xc_name, keep_kernel=False)
            s.dm = warm.get(name)
            s.run_scf()
            frozen = FrozenSystem(s, net)
            net.zero_grad()
            frozen.energy(net).backward()
            done[f'{name}/e'] = np.array(s.e_tot)
            done[f'{name}/g'] = flat_grad(net).numpy()
            _save_cache(cache, done)
            print(f'{name}: {s.cycles} cycles, {time.perf_counter() - t0:.0f} s', flush=True)
            del s, frozen
            clear_kernel_cache()
    finally:
        unregister(xc_name)
    return done, net


def density_gradients(form, state, basis, cache, reference_file):
    '''The density term L_m = sum_g |w_g| (n_m,g - n^CCSD_m,g)^2 of every molecule of an
    xc-reference file and dL_m/dtheta (adjoint CPKS, the trainer's code), at the SCF density of
    the network of ``state``; every SCF starts from the CCSD density, as the trainer's first
    round does.'''
    from pyscf import gto

    from pyscf_ml.train.xc_scf import load_reference
    spec = form_spec(form)
    net = _network(spec, state)
    references = load_reference(reference_file)
    meta = references['meta']
    if meta['basis'].lower() != basis.lower():
        raise SystemExit(f'{reference_file} is in {meta["basis"]}, not {basis}')
    done = _open_cache(cache, f'density {form} {basis} {_state_hash(state)} '
                       f'{os.path.basename(reference_file)} {sha256_of(reference_file)[:12]}',
                       '--density-cache')
    xc_name = 'nn-linear-screen'
    register_functional(NNFunctional(xc_name, spec.name, None, net.state_dict()), overwrite=True)
    try:
        for name in meta['molecules']:
            if f'{name}/L' in done:
                continue
            t0 = time.perf_counter()
            entry = meta['entries'][name]
            mol = gto.M(atom=entry['atom'], spin=entry['spin'], basis=basis, verbose=0)
            dm_ref = np.asarray(references['dm'][name])
            s = TrainingSystem(name, mol, spec, xc_name, dm_ref, keep_kernel=False)
            s.dm = dm_ref.sum(0) if mol.spin == 0 else dm_ref
            s.run_scf()
            loss, dl_dd = s.density_loss()
            net.zero_grad()
            s.adjoint_term(net, s.density_response(net, dl_dd)).backward()
            done[f'{name}/L'] = np.array(loss)
            done[f'{name}/g'] = flat_grad(net).numpy()
            done[f'{name}/e'] = np.array(s.e_tot)
            _save_cache(cache, done)
            print(f'{name}: density loss {loss:.3e}, {s.cycles} cycles, '
                  f'{time.perf_counter() - t0:.0f} s', flush=True)
            del s
            clear_kernel_cache()
    finally:
        unregister(xc_name)
    return done


def _network(spec, state):
    net = NagaiMLP(spec.n_features).double()
    net.load_state_dict(state)
    return net


def _open_cache(cache, key, option):
    '''The cached results in ``cache`` (a new one if absent), refused if made for another key
    (form, basis, weights and, for density terms, the reference file).'''
    done = dict(np.load(cache)) if os.path.exists(cache) else {'key': np.array(key)}
    if str(done.get('key')) != key:
        raise SystemExit(f'{cache} was made for {done.get("key")}, not {key}; give another '
                         f'{option}')
    return done


def _save_cache(cache, done):
    '''Write the cache atomically: an interrupted run keeps the last complete one.'''
    np.savez(cache + '.tmp.npz', **done)
    os.replace(cache + '.tmp.npz', cache)


def _state_hash(state):
    '''sha256 (12 hex digits) of a state dict's tensors, in order.'''
    h = hashlib.sha256()
    for k, v in state.items():
        h.update(k.encode())
        h.update(v.detach().cpu().numpy().tobytes())
    return h.hexdigest()[:12]


def errors_and_jacobian(done, molecules):
    '''AE - De (kcal/mol) and its theta-Jacobian (kcal/mol per unit theta) per molecule: the AE
    is linear in the systems' energies, so the same sum gives both.'''
    comp = {m: g2.composition(m) for m in molecules}
    systems = systems_of(molecules)
    ae = atomization_energies(comp, {n: done[f'{n}/e'] for n in systems}, g2.HARTREE_TO_KCAL)
    jac = atomization_energies(comp, {n: done[f'{n}/g'] for n in systems}, g2.HARTREE_TO_KCAL)
    e = np.array([float(ae[m]) - g2.atomization_energy(m) for m in molecules])
    return e, np.array([jac[m] for m in molecules])


def ridge_step(e, J, mu):
    '''argmin mean (e + J d)^2 + mu/2 |d|^2  =  -J^T (J J^T + n mu/2 I)^-1 e.'''
    n = len(e)
    return stacked_ridge_step(e / np.sqrt(n), J / np.sqrt(n), mu)


def stacked_ridge_step(b, M, mu):
    '''argmin sum_i (b_i + M_i d)^2 + mu/2 |d|^2  =  -M^T (M M^T + mu/2 I)^-1 b.'''
    return -M.T @ np.linalg.solve(M @ M.T + 0.5 * mu * np.eye(len(b)), b)


def density_rows(loss, grad):
    '''The trainer's rank-one model of each density term (``FrozenDensityModel``):
    L_m(d) ~ (r_m + a_m . d)^2 with r_m = sqrt(L_m), a_m = g_m / (2 r_m), which has L_m's value
    and gradient at d = 0.  Returns (r, A).'''
    if np.any(loss <= 0):   # (the trainer drops such terms; here that would be a silent gap)
        raise ValueError('a density term is zero: no rank-one model')
    r = np.sqrt(loss)
    return r, grad / (2 * r[:, None])


def combined_step(e, J, r, A, density_weight, mu, energy_weight=1.0):
    '''The trainer's loss, linearised:  energy_weight mean_m (e_m + J_m d)^2
    + density_weight mean_m (r_m + A_m d)^2 + mu/2 |d|^2, minimised over d.'''
    if not (energy_weight or density_weight):
        raise ValueError('no loss term: energy_weight and density_weight are both 0')
    blocks_b, blocks_m = [], []
    if energy_weight:
        s = np.sqrt(energy_weight / len(e))
        blocks_b.append(s * e)
        blocks_m.append(s * J)
    if density_weight:
        s = np.sqrt(density_weight / len(r))
        blocks_b.append(s * r)
        blocks_m.append(s * A)
    return stacked_ridge_step(np.concatenate(blocks_b), np.concatenate(blocks_m), mu)


def column_mask(net, names):
    mask = []
    for pname, p in net.named_parameters():
        keep = names is None or pname.split('.')[0] in names
        mask.append(np.full(p.numel(), keep))
    return np.concatenate(mask)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--form', default='nn-nra')
    p.add_argument('--weights', help='weight file (default: the shipped weights of --form)')
    p.add_argument('--basis', default='def2-tzvp')
    p.add_argument('--cache', default='runs/xc_jacobian.npz')
    p.add_argument('--warm-start', help='a trainer checkpoint whose densities start the SCFs')
    p.add_argument('--check-mu', default='',
                   help='comma list of mu: apply the 3of4 ridge step (all parameters) and '
                        'converge the held-out quarter at those weights, to compare the linear '
                        'prediction with self-consistent errors')
    p.add_argument('--density', metavar='REFERENCE',
                   help='an xc-reference file (e.g. runs/data/xc_reference_g2-1-3of4.npz): '
                        'add the density term of its molecules (CCSD densities) to the '
                        'linearised loss, as the trainer\'s --density-weight does')
    p.add_argument('--density-cache', default='runs/xc_density_gradients.npz')
    p.add_argument('--threads', type=int, default=0)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    weight_file = args.weights or lookup(args.form).weights_path
    warm = {}
    if args.warm_start:
        ckpt = torch.load(args.warm_start, weights_only=False)
        warm = {k: v for d in (ckpt.get('held_dms') or {}, ckpt['dms'])
                for k, v in d.items() if v is not None}
    os.makedirs(os.path.dirname(os.path.abspath(args.cache)), exist_ok=True)
    state = load_state_dict(weight_file, form_spec(args.form).name)
    done, net = converge(args.form, state, args.basis, args.cache, warm,
                         g2.molecule_names('G2-1'))
    names = g2.molecule_names('G2-1')
    e, J = errors_and_jacobian(done, names)
    quarter = np.array([m in G2_1_QUARTER for m in names])
    folds = np.arange(len(names)) % 5
    print(f'\n# {args.form} {os.path.basename(weight_file)}, {args.basis}: G2-1 MAE at the '
          f'weights {np.abs(e).mean():.3f} kcal/mol '
          f'(held-out quarter {np.abs(e[quarter]).mean():.3f})')
    print('Predicted MAE (kcal/mol) after the ridge step fitted on the training molecules, '
          'linear in dtheta.')
    print('| parameters | mu | ‖dθ‖ (3of4) | 3of4 train MAE | quarter MAE | 5-fold CV MAE |')
    print('|---|---|---|---|---|---|')
    for label, group in GROUPS.items():
        cols = column_mask(net, group)
        print(f'| {label} ({cols.sum()}) | no step | 0 | {np.abs(e[~quarter]).mean():.3f} | '
              f'{np.abs(e[quarter]).mean():.3f} | {np.abs(e).mean():.3f} |')
        for mu in MUS:
            Jc = J[:, cols]
            d = ridge_step(e[~quarter], Jc[~quarter], mu)
            pred = e + Jc @ d
            cv = np.empty_like(e)
            for k in range(5):
                dk = ridge_step(e[folds != k], Jc[folds != k], mu)
                cv[folds == k] = e[folds == k] + Jc[folds == k] @ dk
            print(f'| {label} | {mu:g} | {np.linalg.norm(d):.4f} | '
                  f'{np.abs(pred[~quarter]).mean():.3f} | {np.abs(pred[quarter]).mean():.3f} | '
                  f'{np.abs(cv).mean():.3f} |')
    if args.density:
        density_table(args, state, done, names, e, J, quarter)
    for mu in [float(m) for m in args.check_mu.split(',') if m]:
        check_linearity(args, net, done, e, J, quarter, names, mu, warm)


DENSITY_WEIGHTS = [1e3, 1e4, 1e5, 1e6, 1e7]
STEP_NORMS = [0.002, 0.005, 0.011, 0.027]


def check_density_molecules(listed, training):
    '''The molecules of the density term must be exactly the training molecules of the split:
    a held-out one would leak into the fit, and the trainer averages both terms over the same
    molecules.  Returns them in the order of ``training``.'''
    leaked = sorted(set(listed) - set(training))
    missing = sorted(set(training) - set(listed))
    if leaked or missing:
        raise SystemExit(f'the density reference must hold exactly the {len(training)} training '
                         f'molecules: not training molecules {leaked}, missing {missing}')
    return list(training)


def density_table(args, state, done, names, e, J, quarter):
    '''What adding the density term of the reference molecules (all of them trained on; they
    must not include the held-out quarter) does to the predicted atomization energies.'''
    with np.load(args.density) as z:
        listed = json.loads(str(z['meta']))['molecules']
    molecules = check_density_molecules(listed, [m for m, q in zip(names, quarter) if not q])
    dens = density_gradients(args.form, state, args.basis, args.density_cache, args.density)
    # the same SCF solutions as the Jacobian's (another state would be another linearisation;
    # equal energies are necessary for that, not sufficient)
    shift = max(abs(float(dens[f'{m}/e']) - float(done[f'{m}/e'])) for m in molecules)
    if shift > 1e-6:
        raise SystemExit(f'the density SCFs found other states than the Jacobian\'s (energies '
                         f'differ by up to {shift:.1e} Ha): give both the same --warm-start')
    r, A = density_rows(np.array([float(dens[f'{m}/L']) for m in molecules]),
                        np.array([dens[f'{m}/g'] for m in molecules]))
    train = ~quarter
    print(f'\n## With the density term of the {len(molecules)} reference molecules '
          f'({os.path.basename(args.density)})')
    print(f'Largest |E_SCF - E_SCF(Jacobian)| over them: {shift:.1e} Ha.  Density loss at the '
          f'weights: mean {np.mean(r ** 2):.3e} (sum_g |w_g| dn_g^2, e^2/bohr^3).')
    print('Loss = mean AE error^2 (3of4) + density_weight * mean density loss; predicted MAE '
          '(kcal/mol), density loss relative to the weights\' (rank-one model).')
    print('| density weight | mu | ‖dθ‖ | 3of4 train MAE | quarter MAE | density loss ratio |')
    print('|---|---|---|---|---|---|')

    def row(label, mu, d):
        pred = e + J @ d
        ratio = np.sum((r + A @ d) ** 2) / np.sum(r ** 2)
        print(f'| {label} | {mu:.3g} | {np.linalg.norm(d):.4f} | '
              f'{np.abs(pred[train]).mean():.3f} | {np.abs(pred[quarter]).mean():.3f} | '
              f'{ratio:.3f} |')
    for w in [0.0] + DENSITY_WEIGHTS:
        for mu in [1e5, 3e4, 1e4, 3e3]:
            row(f'{w:g}', mu, combined_step(e[train], J[train], r, A, w, mu))
    # the density term alone, at the step lengths of the rows above (mu found by bisection)
    for target in STEP_NORMS:
        lo, hi = -12.0, 12.0
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            d = combined_step(e[train], J[train], r, A, 1.0, 10 ** mid, energy_weight=0.0)
            lo, hi = (mid, hi) if np.linalg.norm(d) > target else (lo, mid)
        row('density only', 10 ** mid, d)


def check_linearity(args, net, done, e, J, quarter, names, mu, warm):
    '''Self-consistent quarter errors at theta + dtheta(mu) against the linear prediction; the
    SCFs start from the same densities as the Jacobian's, so that they find the same states.'''
    d = ridge_step(e[~quarter], J[~quarter], mu)
    theta = torch.nn.utils.parameters_to_vector(net.parameters()).detach()
    torch.nn.utils.vector_to_parameters(theta + torch.as_tensor(d), net.parameters())
    state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    torch.nn.utils.vector_to_parameters(theta, net.parameters())
    stem = os.path.splitext(args.cache)[0]
    try:
        moved, _ = converge(args.form, state, args.basis, f'{stem}_check_mu{mu:g}.npz', warm,
                            G2_1_QUARTER)
    except SCFNotConverged as err:   # a step that far breaks an SCF: no comparison to make
        print(f'\n## Linearity check, mu {mu:g}, ‖dθ‖ {np.linalg.norm(d):.4f}: {err} '
              "(every step of the trainer's SCF ladder failed), so the linear prediction is "
              'not tested there')
        return
    quarter_names = [m for m, q in zip(names, quarter) if q]
    e_scf, _ = errors_and_jacobian(moved, quarter_names)
    pred = e[quarter] + J[quarter] @ d
    print(f'\n## Linearity check, mu {mu:g}, ‖dθ‖ {np.linalg.norm(d):.4f}: quarter MAE '
          f'linear {np.abs(pred).mean():.3f}, self-consistent {np.abs(e_scf).mean():.3f} '
          f'(at the weights {np.abs(e[quarter]).mean():.3f})')
    print('| molecule | at the weights | linear | self-consistent |')
    print('|---|---|---|---|')
    for m, a, b, c in zip(quarter_names, e[quarter], pred, e_scf):
        print(f'| {m} | {a:+.2f} | {b:+.2f} | {c:+.2f} |')


if __name__ == '__main__':
    main()
