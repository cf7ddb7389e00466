'''Benchmark: learned Hamiltonian guess ('phisnet') against PySCF's built-in initial guesses.

For held-out conformers of each per-molecule model and held-out molecules of the transferable
model (the ``test`` split written by ``python -m pyscf_ml.data phisnet``), one run reports:
- Fock MAE (uHa) against the converged PBE/def2-SVP Fock matrix: the network's raw predicted F
  for phisnet (the model's accuracy), F[D_guess] (one Fock build) for the built-in guesses;
- occupied orbital-energy MAE (mHa) of the matrix each guess diagonalises: for phisnet the
  predicted F with near-dependent directions treated as its card says (default: dropped below
  overlap eigenvalue 0.03; predict.treat_near_dependent);
- SCF cycles and wall time of a fresh ``dft.RKS(mol, xc='pbe')`` (conv_tol 1e-9, DIIS) per key,
  the phisnet inference inside the timing (the weights are loaded before timing starts);
- phisnet inference time against the time of one SCF cycle.

    python benchmarks/init_guess.py --sets water:runs/data/water.pt ethanol:runs/data/ethanol.pt \
        hcno:runs/data/heldout-hcno.pt --n-conf 5 --out benchmarks/results/init_guess

writes OUT.md (table + the command), OUT.json and OUT.png (bar chart of mean cycles).
'''
import argparse
import json
import os
import sys
import time

import numpy as np
import scipy.linalg
import torch
from png_writer import write_rgb_png  # benchmarks/png_writer.py
from pyscf import dft, lib

import pyscf_ml.guess  # noqa: F401  (installs the init-guess hook)
from pyscf_ml.data.phisnet import sample_mol
from pyscf_ml.guess import predict

KEYS = ['phisnet', 'minao', 'atom', 'huckel', 'sap', 'vsap']


def _check_keys(keys):
    # phisnet is what is measured and minao the reference of the cycle ratio
    if not {'phisnet', 'minao'} <= set(keys):
        raise ValueError(f'guesses {keys} must include phisnet and minao')


def test_geometries(path, n):
    '''Up to n test-split samples per molecule name.'''
    samples = torch.load(path, map_location='cpu', weights_only=False)['samples']
    out, count = [], {}
    for s in samples:
        if s['split'] == 'test' and count.get(s['name'], 0) < n:
            count[s['name']] = count.get(s['name'], 0) + 1
            out.append(s)
    return out


def occ_energies(f, s, nocc):
    return scipy.linalg.eigh(f, s, eigvals_only=True)[:nocc]


def run_sample(sample, model, conv_tol, keys=KEYS):
    _check_keys(keys)
    mol = sample_mol(sample)
    f_ref, nocc = sample['fock'], mol.nelectron // 2
    s = mol.intor_symmetric('int1e_ovlp')
    e_ref = occ_energies(f_ref, s, nocc)
    rows = {}
    t = time.perf_counter()
    pred = predict.load_model(model)    # cached: loaded before the timing started
    # one inference and one F0: the raw prediction, and what predict.fock(mol, model) returns
    # (test data are in the model's basis) with near-dependent directions as the card says
    f0, delta, _ = pred.prediction_parts(mol)
    f_raw = f0 + delta
    f_pred, _ = pred.treat_near_dependent(f0, delta, s)
    t_inf = time.perf_counter() - t
    for key in keys:
        mf = dft.RKS(mol, xc='pbe')
        mf.conv_tol = conv_tol
        if key == 'phisnet':
            mf.init_guess = f'phisnet:{model}'
            f_guess = f_pred
        else:
            mf.init_guess = key
            f_guess = mf.get_fock(dm=mf.get_init_guess(key=key))
        mae = np.abs((f_raw if key == 'phisnet' else f_guess) - f_ref).mean()
        emae = np.abs(occ_energies(f_guess, s, nocc) - e_ref).mean()
        mf = dft.RKS(mol, xc='pbe')                       # fresh object for the timing
        mf.conv_tol = conv_tol
        mf.init_guess = f'phisnet:{model}' if key == 'phisnet' else key
        t = time.perf_counter()
        e = mf.kernel()
        wall = time.perf_counter() - t
        rows[key] = dict(fock_mae_uHa=mae * 1e6, occ_e_mae_mHa=emae * 1e3, cycles=mf.cycles,
                         wall_s=wall, converged=bool(mf.converged), e_tot=e)
    rows['inference_s'] = t_inf
    rows['scf_cycle_s'] = rows['minao']['wall_s'] / max(1, rows['minao']['cycles'])
    return rows


def summarise(results, keys=KEYS):
    table = {}
    for name, per in results.items():
        t = {}
        for key in keys:
            vals = [r[key] for r in per]
            t[key] = {k: float(np.mean([v[k] for v in vals]))
                      for k in ('fock_mae_uHa', 'occ_e_mae_mHa', 'cycles', 'wall_s')}
            t[key]['all_converged'] = all(v['converged'] for v in vals)
        t['inference_ms'] = 1e3 * float(np.mean([r['inference_s'] for r in per]))
        t['scf_cycle_ms'] = 1e3 * float(np.mean([r['scf_cycle_s'] for r in per]))
        t['n'] = len(per)
        table[name] = t
    return table


def markdown(table, command, models, keys=KEYS):
    lines = [f'Command: `{command}`', '',
             'PBE/def2-SVP, `dft.RKS`, conv_tol 1e-9, DIIS, default grids; means over the test '
             'geometries. Fock MAE: raw predicted F (phisnet) or F[D_guess] (others) against the '
             'converged F; occ. eps MAE: of the matrix the guess diagonalises (phisnet: '
             'near-dependent directions as its card says, default dropped below 0.03). Wall '
             'time includes the guess (phisnet: inference, weights preloaded).',
             '', '| test set (model) | n | guess | Fock MAE (uHa) | occ. eps MAE (mHa) | cycles '
             '| cycles / minao | wall (s) |', '|---|---|---|---|---|---|---|---|']
    for name, t in table.items():
        for key in keys:
            r = t[key]
            lines.append(f'| {name} ({models[name]}) | {t["n"]} | {key} | {r["fock_mae_uHa"]:.0f} '
                         f'| {r["occ_e_mae_mHa"]:.2f} | {r["cycles"]:.1f} '
                         f'| {r["cycles"] / t["minao"]["cycles"]:.2f} | {r["wall_s"]:.2f} |')
    lines += ['', '| test set | phisnet inference (ms) | one SCF cycle (ms) |', '|---|---|---|']
    lines += [f'| {n} | {t["inference_ms"]:.0f} | {t["scf_cycle_ms"]:.0f} |'
              for n, t in table.items()]
    return '\n'.join(lines) + '\n'


# ---- a dependency-free PNG bar chart (matplotlib is not a dependency) -------------------------
_FONT = {  # 3x5 glyphs, rows top to bottom, 3 bits each
    'A': '010101111101101', 'B': '110101110101110', 'C': '011100100100011', 'D': '110101101101110',
    'E': '111100110100111', 'F': '111100110100100', 'G': '011100101101011', 'H': '101101111101101',
    'I': '111010010010111', 'K': '101101110101101', 'L': '100100100100111', 'M': '101111111101101',
    'N': '110101101101101', 'O': '010101101101010', 'P': '110101110100100', 'R': '110101110101101',
    'S': '011100010001110', 'T': '111010010010010', 'U': '101101101101111', 'V': '101101101101010',
    'W': '101101111111101', 'Y': '101101010010010', 'Z': '111001010100111', '0': '111101101101111',
    '1': '010110010010111', '2': '110001010100111', '3': '110001010001110', '4': '101101111001001',
    '5': '111100110001110', '6': '011100111101111', '7': '111001010010010', '8': '111101111101111',
    '9': '111101111001110', '.': '000000000000010', '-': '000000111000000', ' ': '0' * 15,
    '/': '001001010100100', ':': '000010000010000', '(': '010100100100010', ')': '010001001001010',
}
COLORS = [(214, 39, 40), (31, 119, 180), (255, 127, 14), (44, 160, 44), (148, 103, 189),
          (140, 86, 75)]


def _text(img, x, y, s, scale=2, color=(0, 0, 0)):
    for k, ch in enumerate(s.upper()):
        g = _FONT.get(ch, _FONT[' '])
        for r in range(5):
            for c in range(3):
                if g[3 * r + c] == '1':
                    x0, y0 = x + (4 * k + c) * scale, y + r * scale
                    img[y0:y0 + scale, x0:x0 + scale] = color


def bar_chart(path, table, keys=KEYS):
    '''Mean SCF cycles per guess (bars) for every test set.'''
    groups = list(table)
    colors = [COLORS[KEYS.index(key)] for key in keys]     # a guess keeps its colour
    ymax = max(t[k]['cycles'] for t in table.values() for k in keys) * 1.15
    bw, gap, left, top, plot_h = 14, 30, 50, 40, 260
    title = 'SCF CYCLES PER INITIAL GUESS (PBE/DEF2-SVP)'
    width = left + len(groups) * (len(keys) * bw + gap) + 20
    # at least as wide as the title (8 px per glyph at scale 2), which one or two groups are not
    img = np.full((top + plot_h + 60 + 14 * len(keys), max(width, left + 8 * len(title) + 10), 3),
                  255, np.uint8)
    _text(img, left, 10, title)
    base = top + plot_h
    img[top:base + 1, left - 2] = 0
    img[base, left - 2:width - 10] = 0
    for tick in range(0, int(ymax) + 1, 5):
        y = base - int(tick / ymax * plot_h)
        img[y, left - 6:left - 2] = 0
        _text(img, 8, y - 4, f'{tick:2d}')
    for g, name in enumerate(groups):
        x0 = left + 6 + g * (len(keys) * bw + gap)
        for k, key in enumerate(keys):
            h = int(table[name][key]['cycles'] / ymax * plot_h)
            img[base - h:base, x0 + k * bw:x0 + (k + 1) * bw - 2] = colors[k]
        _text(img, x0, base + 8, name[:12])
    for k, key in enumerate(keys):
        y = base + 30 + 14 * k
        img[y:y + 10, left:left + 10] = colors[k]
        _text(img, left + 16, y, key)
    write_rgb_png(path, img)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--sets', nargs='+', required=True,
                   help='NAME:DATA.pt or NAME:DATA.pt:MODEL (model defaults to NAME)')
    p.add_argument('--n-conf', type=int, default=5, help='test geometries per molecule')
    p.add_argument('--conv-tol', type=float, default=1e-9)
    p.add_argument('--out', default=None,
                   help='output prefix (default benchmarks/results/init_guess; required with a '
                        'subset of --guesses, so that a partial table does not overwrite the '
                        'full one)')
    p.add_argument('--guesses', nargs='+', choices=KEYS, default=KEYS,
                   help='guesses to run (phisnet and minao, the reference of the cycle ratio, '
                        'always run); fewer for a quicker comparison of models')
    args = p.parse_args(argv)
    keys = [k for k in KEYS if k in {'phisnet', 'minao', *args.guesses}]
    if args.out is None:
        if keys != KEYS:
            p.error('--guesses with a subset of the guesses needs its own --out')
        args.out = 'benchmarks/results/init_guess'
    lib.num_threads(int(os.environ.get('OMP_NUM_THREADS', '1')))
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', '1')))
    results, models, load_s, treatment = {}, {}, {}, {}
    for spec in args.sets:
        name, path, *model = spec.split(':')
        models[name] = model[0] if model else name
        t = time.perf_counter()
        pred = predict.load_model(models[name])
        load_s[name] = time.perf_counter() - t
        treatment[name] = f'{pred.lindep_method} {pred.lindep_threshold:g}'
        results[name] = []
        for k, sample in enumerate(test_geometries(path, args.n_conf)):
            results[name].append(run_sample(sample, models[name], args.conv_tol, keys))
            r = results[name][-1]
            print(f'{name} {sample["name"]} #{sample["index"]}: ' + ' '.join(
                f'{key}={r[key]["cycles"]}' for key in keys), file=sys.stderr, flush=True)
    table = summarise(results, keys)
    for name in table:
        table[name]['near_dependence'] = treatment[name]
    command = 'python benchmarks/init_guess.py ' + ' '.join(
        sys.argv[1:] if argv is None else argv)
    text = markdown(table, command, models, keys)
    text += '\nModel load time (s, once per process): ' + ', '.join(
        f'{n} {v:.1f}' for n, v in load_s.items()) + '\n'
    text += '\nNear-dependent directions (each card\'s treatment): ' + ', '.join(
        f'{n} {v}' for n, v in treatment.items()) + '\n'
    print(text)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out + '.md', 'w') as f:
        f.write(text)
    with open(args.out + '.json', 'w') as f:
        json.dump(dict(command=command, table=table, per_geometry=results), f, indent=1)
    bar_chart(args.out + '.png', table, keys)
    return 0


if __name__ == '__main__':
    sys.exit(main())
