'''How accurate must a predicted Fock matrix be to save SCF cycles?  Noise on the reference.

For the ``val`` conformers of a data set (never the test split), the converged reference Fock
matrix plus symmetric Gaussian noise of a given mean absolute error (independent per AO element,
the metric the Hamiltonian models are trained and reported on) starts a fresh
``dft.RKS(mol, xc='pbe')`` (conv_tol 1e-9, DIIS) from its aufbau density, unfiltered.  The model's
own prediction and MINAO run on the same conformers for comparison.  Independent noise is not
the structured error of a network, so the curve is a guide to the accuracy a model needs, not a
prediction of its cycles.

    python benchmarks/fock_noise_cycles.py --data runs/data/water.pt runs/data/water_extra.pt \
        --model water --n-conf 20 --mae 0 2 5 10 20 33 50 --out benchmarks/results/fock_noise_water
'''
import argparse
import sys

import numpy as np
from guess_cycles import cycles_from, val_samples, write_results

from pyscf_ml.data.phisnet import sample_mol
from pyscf_ml.guess import predict


def cycles_from_fock(mol, f, s, conv_tol):
    return cycles_from(mol, predict.aufbau(f, s, mol.nelec)['dm'], conv_tol)


def symmetric_noise(n, mae_uHa, rng):
    '''Symmetric matrix of Gaussian entries whose expected |entry| is ``mae_uHa`` µHa.'''
    a = np.triu(rng.standard_normal((n, n)))
    a = a + np.triu(a, 1).T
    return a * mae_uHa * 1e-6 * np.sqrt(np.pi / 2)   # E|x| = sigma sqrt(2/pi)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--data', nargs='+', required=True)
    ap.add_argument('--model', help='also run this Hamiltonian model on the same conformers')
    ap.add_argument('--n-conf', type=int, default=10)
    ap.add_argument('--mae', type=float, nargs='+', default=[0, 5, 10, 20, 50],
                    help='noise levels: MAE in µHa')
    ap.add_argument('--conv-tol', type=float, default=1e-9)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--out', help='write OUT.md and OUT.json')
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    rows = {f'reference + {m:g} µHa noise': [] for m in args.mae}
    if args.model:
        rows[f'model {args.model}'] = []
    rows['minao'] = []
    for smp in val_samples(args.data, args.n_conf):
        mol = sample_mol(smp)
        f_ref = np.asarray(smp['fock'], dtype=float)
        s = mol.intor_symmetric('int1e_ovlp')
        got = {}
        for m in args.mae:
            noise = symmetric_noise(len(f_ref), m, rng)
            got[f'reference + {m:g} µHa noise'] = (1e6 * np.abs(noise).mean(),
                                                   *cycles_from_fock(mol, f_ref + noise, s,
                                                                     args.conv_tol))
        if args.model:
            f = predict.fock(mol, args.model, lindep_threshold=0)
            got[f'model {args.model}'] = (1e6 * np.abs(f - f_ref).mean(),
                                          *cycles_from_fock(mol, f, s, args.conv_tol))
        got['minao'] = (float('nan'), *cycles_from(mol, None, args.conv_tol))   # None: MINAO
        for k, v in got.items():
            rows[k].append(v)
        print(smp['name'], smp['index'], {k: v[1] for k, v in got.items()}, flush=True)
    minao = np.mean([r[1] for r in rows['minao']])
    table = {k: dict(n=len(v), fock_mae_uHa=float(np.mean([r[0] for r in v])),
                     cycles=float(np.mean([r[1] for r in v])),
                     cycles_min=int(min(r[1] for r in v)), cycles_max=int(max(r[1] for r in v)),
                     all_converged=all(r[2] for r in v))
             for k, v in rows.items()}
    command = 'python benchmarks/fock_noise_cycles.py ' + ' '.join(
        sys.argv[1:] if argv is None else argv)
    lines = [f'Command: `{command}`', '',
             'Validation conformers, PBE/def2-SVP, `dft.RKS`, conv_tol '
             f'{args.conv_tol:g}, DIIS, started from the aufbau density of each matrix '
             '(unfiltered). Noise: symmetric, Gaussian, independent per AO element.', '',
             '| start | n | Fock MAE (µHa) | cycles | min–max | cycles / minao | all converged |',
             '|---|---|---|---|---|---|---|']
    for k, t in table.items():
        mae = '' if k == 'minao' else f'{t["fock_mae_uHa"]:.1f}'
        lines.append(f'| {k} | {t["n"]} | {mae} | {t["cycles"]:.2f} | {t["cycles_min"]}–'
                     f'{t["cycles_max"]} | {t["cycles"] / minao:.2f} | {t["all_converged"]} |')
    md = '\n'.join(lines) + '\n'
    print(md)
    if args.out:
        write_results(args.out, md, table)


if __name__ == '__main__':
    main()
