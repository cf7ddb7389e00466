'''Model selection: the treatment of near-dependent overlap directions, on validation splits.

For the ``val`` conformers of each data set (never the test split), the network's raw predicted
Fock matrix is treated by each method ('drop': canonical orthogonalisation; 'baseline': the
network's correction kept off those directions, see predict.treat_near_dependent) at each
threshold, its aufbau density starts a fresh ``dft.RKS(mol, xc='pbe')`` (conv_tol 1e-9, DIIS)
and the table reports mean SCF cycles (MINAO's alongside), the occupied orbital-energy MAE and
max error against the converged reference (a spurious deep level shows as an error of Ha) and
the number of near-dependent directions.

``--reference-fock`` treats the converged reference Fock matrix instead of the prediction: the
cycles the treatment itself costs a perfect model.

    python benchmarks/lindep_threshold.py --sets water:runs/data/water.pt:water \
        uracil:runs/data/uracil.pt:uracil hcno:runs/data/small-hcno.pt:hcno --n-conf 19 \
        --methods drop baseline --out benchmarks/results/lindep_threshold
'''
import argparse
import sys

import numpy as np
from guess_cycles import cycles_from, val_samples, write_results

from pyscf_ml.data.phisnet import sample_mol
from pyscf_ml.guess import predict
from pyscf_ml.guess.baseline import baseline_fock

THRESHOLDS = (0.0, 0.01, 0.02, 0.03, 0.05, 0.1)


def candidates(methods, thresholds):
    '''Row labels 'method threshold'; 'baseline' at 0 is the same as 'drop' at 0.'''
    return [f'{m} {tau:g}' for m in methods for tau in thresholds
            if not (m != 'drop' and tau == 0 and 'drop' in methods)]


def run_sample(sample, model, labels, conv_tol, reference_fock=False):
    mol = sample_mol(sample)
    s = mol.intor_symmetric('int1e_ovlp')
    nocc = mol.nelectron // 2
    e_ref = predict.aufbau(sample['fock'], s, mol.nelec)['mo_energy'][:nocc]
    if reference_fock:
        f_raw = sample['fock']
    else:
        f_raw = predict.fock(mol, model, lindep_threshold=0)
    f0 = baseline_fock(mol)
    rows = {}
    for label in labels:
        method, tau = label.split()
        f, dropped = predict.treat_near_dependent(f0, f_raw - f0, s, method, float(tau))
        orb = predict.aufbau(f, s, mol.nelec)
        dm, e = orb['dm'], orb['mo_energy'][:nocc]
        cycles, conv = cycles_from(mol, dm, conv_tol)
        rows[label] = dict(cycles=cycles, converged=conv, dropped=dropped,
                           occ_e_mae_mHa=1e3 * float(np.abs(e - e_ref).mean()),
                           max_occ_e_err_Ha=float(np.abs(e - e_ref).max()))
    cycles, conv = cycles_from(mol, None, conv_tol)    # dm0=None: PySCF's default, MINAO
    rows['minao'] = dict(cycles=cycles, converged=conv)
    return rows


def markdown(table, command, reference=False):
    lines = [f'Command: `{command}`', '',
             f'Treated: the {"converged reference" if reference else "predicted"} Fock matrix. '
             'Validation conformers only. PBE/def2-SVP, `dft.RKS`, conv_tol 1e-9, DIIS. '
             '"max occ. eps error": largest occupied orbital-energy error over the conformers.',
             '',
             '| set (model) | n | treatment | directions | cycles | cycles / minao '
             '| occ. eps MAE (mHa) | max occ. eps error (Ha) | all converged |',
             '|---|---|---|---|---|---|---|---|---|']
    for name, t in table.items():
        for label, r in t['thresholds'].items():
            lines.append(f'| {name} | {t["n"]} | {label} | {r["dropped"]:.1f} | {r["cycles"]:.1f} '
                         f'| {r["cycles"] / t["minao_cycles"]:.2f} | {r["occ_e_mae_mHa"]:.1f} '
                         f'| {r["max_occ_e_err_Ha"]:.3f} | {r["all_converged"]} |')
        lines.append(f'| {name} | {t["n"]} | minao | | {t["minao_cycles"]:.1f} | 1.00 | | | |')
    return '\n'.join(lines) + '\n'


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--sets', nargs='+', required=True, help='name:data.pt:model')
    ap.add_argument('--n-conf', type=int, default=5)
    ap.add_argument('--thresholds', type=float, nargs='+', default=THRESHOLDS)
    ap.add_argument('--methods', nargs='+', default=['drop'],
                    choices=sorted(predict.LINDEP_METHODS),
                    help='treatments of near-dependent directions (predict.treat_near_dependent)')
    ap.add_argument('--conv-tol', type=float, default=1e-9)
    ap.add_argument('--reference-fock', action='store_true',
                    help='treat the converged reference F instead of the prediction')
    ap.add_argument('--out', help='write OUT.md and OUT.json')
    args = ap.parse_args(argv)
    table = {}
    for spec in args.sets:
        name, path, model = spec.split(':')
        per = []
        labels = candidates(args.methods, args.thresholds)
        for smp in val_samples(path, args.n_conf):
            per.append(run_sample(smp, model, labels, args.conv_tol, args.reference_fock))
            print(name, smp['name'], smp['index'],
                  {k: v['cycles'] for k, v in per[-1].items()}, flush=True)
        th = {}
        for label in labels:
            rs = [r[label] for r in per]
            th[label] = {k: float(np.mean([r[k] for r in rs]))
                         for k in ('cycles', 'dropped', 'occ_e_mae_mHa')}
            th[label]['max_occ_e_err_Ha'] = max(r['max_occ_e_err_Ha'] for r in rs)
            th[label]['all_converged'] = all(r['converged'] for r in rs)
        table[f'{name} ({model})'] = dict(
            n=len(per), thresholds=th,
            minao_cycles=float(np.mean([r['minao']['cycles'] for r in per])))
    command = 'python benchmarks/lindep_threshold.py ' + ' '.join(sys.argv[1:] if argv is None
                                                                  else argv)
    md = markdown(table, command, args.reference_fock)
    print(md)
    if args.out:
        write_results(args.out, md, table)


if __name__ == '__main__':
    main()
