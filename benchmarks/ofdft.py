'''OF-DFT benchmark: learned kinetic energy on held-out data, density optimisation against
Kohn-Sham, and wall time against system size.  One run prints three tables::

    python benchmarks/ofdft.py [--heldout runs/ofdft_data/test.pt] [--quick]

1. T_s error of KineticNet (T_vW + learned Pauli term) against KS on held-out geometries and
   held-out random potentials (seed 1; training used seed 0), including H4.  kcal/mol.  A
   molecule is marked "not trained" when no data command of the shipped weights' card (its own
   and its earlier stages') names it.
2. Density optimisation from a superposition-of-atomic-densities start (not the KS density):
   energy and density error against RKS with the same XC (LDA), basis (unc-cc-pvdz) and grid,
   for KineticNet, TF+1/9vW (classical baseline) and vW.
3. Wall time of OF-DFT and RKS for linear H chains (density fitting in both), with the
   exponent p of a fit t = c n^p over the three largest sizes and the time ratio OF/RKS.
   RKS runs twice: with PySCF's density fitting, and with the OF solver's screened DF-J
   (same auxiliary basis; dE = its energy minus PySCF's).
4. Basis-set error of the representation rho = N psi^2.
'''
import argparse
import os
import shlex
import subprocess
import sys
import time

import numpy as np
import torch
from pyscf import dft, gto, lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from png_writer import write_rgb_png  # noqa: E402  (benchmarks/png_writer.py)

from pyscf_ml import weights as weights_mod  # noqa: E402
from pyscf_ml.data.ofdft import DEFAULT_MOLECULES as KS_DEFAULT  # noqa: E402
from pyscf_ml.data.ofdft_path import DEFAULT_MOLECULES as PATH_DEFAULT  # noqa: E402
from pyscf_ml.modelcard import read_card  # noqa: E402
from pyscf_ml.ofdft import OFDFT  # noqa: E402
from pyscf_ml.ofdft.coulomb import ScreenedDFJ  # noqa: E402
from pyscf_ml.ofdft.learned import load_model  # noqa: E402
from pyscf_ml.train.kineticnet import predict  # noqa: E402

KCAL = 627.509474
DATA_DEFAULT_MOLECULES = {'ofdft': KS_DEFAULT, 'ofdft-path': PATH_DEFAULT}
HELDOUT_CMD = [sys.executable, '-m', 'pyscf_ml.data', 'ofdft', '--molecules',
               'H2,HeH+,H3+,LiH,H4', '--n-per-mol', '15', '--seed', '1', '--rho-min', '1e-8']
MOLECULES = [  # (label, atom, charge, data template name of pyscf_ml.data ofdft or None)
    ('H2', 'H 0 0 0; H 0 0 0.74', 0, 'H2'),
    ('HeH+', 'He 0 0 0; H 0 0 0.774', 1, 'HeH+'),
    ('H3+', 'H 0 0 0; H 0.87 0 0; H 0.435 0.7534 0', 1, 'H3+'),
    ('LiH', 'Li 0 0 0; H 0 0 1.595', 0, 'LiH'),
    ('He', 'He 0 0 0', 0, 'He'),
    ('H4 chain', 'H 0 0 0; H 0 0 0.9; H 0 0 1.8; H 0 0 2.7', 0, 'H4'),
    ('LiH2+', 'Li 0 0 0; H 0 0 1.7; H 0 0 -1.7', 1, None),
]


def molecules_of_data_command(command):
    '''Template molecules a ``python -m pyscf_ml.data ofdft|ofdft-path ...`` command draws
    (its ``--molecules``, or that subcommand's default); an empty set for other commands.'''
    words = shlex.split(command)
    sub = next((w for w in words if w in DATA_DEFAULT_MOLECULES), None)
    if sub is None:
        return set()
    p = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    p.add_argument('--molecules', default=DATA_DEFAULT_MOLECULES[sub])
    try:
        args, _ = p.parse_known_args(words[words.index(sub) + 1:])
    except argparse.ArgumentError as err:
        raise ValueError(f'unreadable data command in the model card: {command!r}') from err
    return set(args.molecules.split(','))


def trained_templates(card_path=None):
    '''Template molecules the shipped KineticNet was trained on: those drawn by the data
    commands of its card and of the earlier stages listed in its ``training_stages``.  A card
    lists every data file of its own training run, so a fine-tune's inherited data is there;
    validation and held-out data are not training data and are not read.'''
    card = read_card(card_path or weights_mod.path('kineticnet.json'))
    commands = []
    for entry in [card] + list(card.get('training_stages') or []):
        data = entry.get('data') or []
        commands += [data] if isinstance(data, str) else list(data)
    return set().union(*map(molecules_of_data_command, commands))


def mark_untrained(label, template, trained, mark):
    '''``label`` with ``mark`` appended when its template molecule was not trained on.'''
    return label if template in trained else label + mark


def table(header, rows):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(header)]
    line = '| ' + ' | '.join(str(h).ljust(w) for h, w in zip(header, widths)) + ' |'
    out = [line, '|' + '|'.join('-' * (w + 2) for w in widths) + '|']
    out += ['| ' + ' | '.join(str(c).ljust(w) for c, w in zip(r, widths)) + ' |' for r in rows]
    return '\n'.join(out)


def heldout_ts(path):
    if not os.path.exists(path):
        print(f'generating held-out data: {" ".join(HELDOUT_CMD)} --out {path}', flush=True)
        subprocess.run(HELDOUT_CMD + ['--out', path], check=True, cwd=ROOT,
                       env=dict(os.environ, PYTHONPATH=ROOT))
    samples = torch.load(path, weights_only=False)['samples']
    model = load_model(device='cpu')
    errs = {}
    for s in samples:
        with torch.no_grad():
            tp = predict(model, s, with_deriv=False)[0].item()   # with sigma if it reads it
        errs.setdefault(s['name'], []).append((s['T_vw'] + tp - s['T_s']) * KCAL)
    rows = []
    trained = trained_templates()
    for name, e in errs.items():
        e = np.array(e)
        rows.append((mark_untrained(name, name, trained, ' (not trained)'), len(e),
                     f'{np.mean(np.abs(e)):.2f}', f'{np.max(np.abs(e)):.2f}', f'{np.mean(e):+.2f}'))
    allv = np.concatenate([np.array(v) for v in errs.values()])
    rows.append(('all', len(allv), f'{np.mean(np.abs(allv)):.2f}', f'{np.max(np.abs(allv)):.2f}',
                 f'{np.mean(allv):+.2f}'))
    return table(('molecule', 'n', 'MAE T_s', 'max |err|', 'mean err'), rows)


def ks_reference(mol, level):
    '''RKS-LDA on the grid level the OF-DFT runs use.'''
    ks = dft.RKS(mol, xc='lda,vwn')
    ks.grids.level = level
    ks.conv_tol = 1e-10
    ks.kernel()
    return ks


def of_against_ks(mol, ks, kinetic, level):
    '''OF-DFT from the SAD start: (E_OF - E_KS in kcal/mol, int|rho_OF - rho_KS|, converged,
    seconds).'''
    of = OFDFT(mol, kinetic=kinetic, xc='lda,vwn')
    of.grids.level = level
    t0 = time.perf_counter()
    e = of.kernel()
    dt = time.perf_counter() - t0
    rho_ks = dft.numint.NumInt().get_rho(mol, ks.make_rdm1(), of.grids)
    drho = np.dot(of.grids.weights, np.abs(of.rho - rho_ks))
    return (e - ks.e_tot) * KCAL, drho, of.converged, dt


def density_opt(level, kinetics):
    rows = []
    trained = trained_templates()
    for label, atom, charge, template in MOLECULES:
        mol = gto.M(atom=atom, charge=charge, basis='unc-cc-pvdz', verbose=0)
        ks = ks_reference(mol, level)
        row = [mark_untrained(label, template, trained, ' *'), f'{ks.e_tot:.6f}']
        for kin in kinetics:
            de, drho, conv, dt = of_against_ks(mol, ks, kin, level)
            flag = '' if conv else ' (not conv.)'
            row.append(f'{de:+.2f} / {drho:.3f}{flag} / {dt:.0f}s')
        rows.append(row)
        print(rows[-1], flush=True)
    head = ['molecule', 'E_KS (Ha)'] + [f'{k}: dE kcal/mol / int|drho| / time' for k in kinetics]
    return table(head, rows)


def write_png(path, series, size=(480, 360)):
    '''Log-log plot of wall time against n as a PNG with numpy + zlib only (matplotlib is not a
    dependency).  No text: axes span the data, one gridline per decade of time and per
    doubling of n; colours are given in the caption printed by the benchmark.'''
    w, h = size
    img = np.full((h, w, 3), 255, np.uint8)
    xs = np.log([n for s in series.values() for n in s[0]])
    ys = np.log([t for s in series.values() for t in s[1]])
    x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
    pad = 40

    def px(x, y):
        return (int(pad + (x - x0) / (x1 - x0) * (w - 2 * pad)),
                int(h - pad - (y - y0) / (y1 - y0) * (h - 2 * pad)))
    for k in range(int(np.floor(y0 / np.log(10))), int(np.ceil(y1 / np.log(10))) + 1):
        _, yy = px(x0, k * np.log(10))
        if pad <= yy < h - pad:
            img[yy, pad:w - pad] = 200
    n = 2 ** np.arange(0, 12)
    for v in n:
        xx, _ = px(np.log(v), y0)
        if pad <= xx < w - pad:
            img[pad:h - pad, xx] = 220
    img[h - pad, pad:w - pad] = 0
    img[pad:h - pad, pad] = 0
    for (ns, ts, colour) in series.values():
        pts = [px(np.log(a), np.log(b)) for a, b in zip(ns, ts)]
        for (xa, ya), (xb, yb) in zip(pts[:-1], pts[1:]):
            for t in np.linspace(0, 1, 400):
                x, y = int(round(xa + t * (xb - xa))), int(round(ya + t * (yb - ya)))
                img[y - 1:y + 2, x - 1:x + 2] = colour
        for x, y in pts:
            img[y - 4:y + 5, x - 4:x + 5] = colour
    write_rgb_png(path, img)


COLOURS = {'RKS': (200, 30, 30), 'RKS, screened J': (230, 150, 20),
           'tf+1/9vw': (30, 60, 200), 'kineticnet': (20, 150, 40)}


def _fit(ns, ts, nfit=3):
    '''Exponent p of t = c n^p over the last ``nfit`` sizes, and the sizes it used.'''
    ns, ts = ns[-nfit:], ts[-nfit:]
    if len(ns) < 2:
        return '-'
    p = np.polyfit(np.log(ns), np.log(ts), 1)[0]
    return f'{p:.2f} ({ns[0]:.0f}-{ns[-1]:.0f} H)'


def rks_with_screened_j(mol):
    '''RKS whose Coulomb matrix comes from the OF solver's screened DF-J: the same J machinery
    on both sides, so the comparison is not just PySCF's J against ours.'''
    ks = dft.RKS(mol, xc='lda,vwn')
    jfit = []

    def get_j(mol=None, dm=None, hermi=1, omega=None):
        if not jfit:      # built inside the timed kernel, as the OF solver builds it
            jfit.append(ScreenedDFJ(ks.mol))
        dm = np.asarray(dm)
        return jfit[0].get_j(dm) if dm.ndim == 2 else np.array([jfit[0].get_j(d) for d in dm])
    ks.get_j = get_j
    return ks


def _timed(mf):
    t0 = time.perf_counter()
    mf.kernel()
    return time.perf_counter() - t0


def h_chain(n):
    '''The scaling benchmarks' system: n H atoms 0.9 A apart on a line, unc-cc-pvdz.'''
    atom = '; '.join(f'H 0 0 {0.9 * i:.3f}' for i in range(n))
    return gto.M(atom=atom, basis='unc-cc-pvdz', verbose=0)


def scaling(sizes, kinetics, learned_max):
    '''Wall time of RKS (PySCF's density fitting), RKS with the screened J and OF-DFT.'''
    rows = []
    times = {k: [] for k in ['RKS', 'RKS, screened J'] + list(kinetics)}
    for n in sizes:
        mol = h_chain(n)
        ks = dft.RKS(mol, xc='lda,vwn').density_fit()
        ks.grids.level = 2
        times['RKS'].append(_timed(ks))
        ks2 = rks_with_screened_j(mol)
        ks2.grids.level = 2
        times['RKS, screened J'].append(_timed(ks2))
        row = [n, mol.nao, f'{times["RKS"][-1]:.2f} ({ks.cycles} it)',
               f'{times["RKS, screened J"][-1]:.2f} ({ks2.cycles} it; '
               f'dE {ks2.e_tot - ks.e_tot:+.0e})']
        for kin in kinetics:
            if kin == 'kineticnet' and n > learned_max:
                row += ['-'] * (2 if kin == kinetics[0] else 1)    # its time (and ratio)
                continue
            of = OFDFT(mol, kinetic=kin, xc='lda,vwn')
            of.density_fit = True
            of.grids.level = 2
            times[kin].append(_timed(of))
            conv = 'conv' if of.converged else 'NOT conv'
            row.append(f'{times[kin][-1]:.2f} ({of.niter} it, {conv})')
            if kin == kinetics[0]:
                row.append(f'{times[kin][-1] / times["RKS"][-1]:.2f} / '
                           f'{times[kin][-1] / times["RKS, screened J"][-1]:.2f}')
        rows.append(row)
        print(rows[-1], flush=True)
    ns = np.array(sizes, dtype=float)

    def fit(key):
        return _fit(ns[:len(times[key])], np.array(times[key]))
    # header and fit row in the order the rows above were built
    head = ['n(H)', 'nao', 'RKS time (s)', 'RKS, screened J (s)']
    fits = ['fitted exponent p (t ~ n^p, last 3 sizes)', '', fit('RKS'), fit('RKS, screened J')]
    for kin in kinetics:
        head.append(f'OF {kin} time (s)')
        fits.append(fit(kin))
        if kin == kinetics[0]:
            head.append(f'OF {kin} / RKS / RKS screened J')
            fits.append('')
    rows.append(fits)
    scaling.times = {k: (sizes[:len(v)], v, COLOURS[k]) for k, v in times.items()}
    return table(head, rows)


def basis_error(level):
    '''Basis-set error of the representation rho = N psi^2.  (a) vW OF-DFT equals RKS in the
    same basis for two electrons, so its basis error is the AO basis error: H2 energies
    against the largest basis.  (b) For more electrons rho_KS is not a square: L1 error of
    the best psi^2 (psi = sqrt(rho_KS/N) fitted in the AO basis) and the vW energy of it.'''
    from pyscf_ml.ofdft.solver import fit_psi
    rows = []
    bases = ['unc-6-31g', 'unc-cc-pvdz', 'unc-cc-pvtz', 'unc-cc-pvqz']
    ref = None
    for basis in reversed(bases):
        mol = gto.M(atom='H 0 0 0; H 0 0 0.74', basis=basis, verbose=0)
        of = OFDFT(mol, kinetic='vw', xc='lda,vwn')
        of.grids.level = 3
        e = of.kernel()
        ref = e if ref is None else ref
        rows.append(('H2, OF-vW (= RKS)', basis, mol.nao, f'{e:.6f}',
                     f'{(e - ref) * 1e3:+.3f}', ''))
    for atom, name in [('Li 0 0 0; H 0 0 1.595', 'LiH'),
                       ('O 0 0 0; H 0 0.757 0.587; H 0 -0.757 0.587', 'H2O')]:
        for basis in ['unc-cc-pvdz', 'unc-cc-pvtz']:
            mol = gto.M(atom=atom, basis=basis, verbose=0)
            ks = dft.RKS(mol, xc='lda,vwn')
            ks.grids.level = level
            ks.kernel()
            of = OFDFT(mol, kinetic='vw')
            of.grids.level = level
            of.build()
            a = fit_psi(of, ks.make_rdm1())
            rho_fit = of.make_rho(a)
            rho_ks = dft.numint.NumInt().get_rho(mol, ks.make_rdm1(), of.grids)
            l1 = np.dot(of.grids.weights, np.abs(rho_fit - rho_ks))
            rows.append((f'{name}: fit of N psi^2 to rho_KS', basis, mol.nao, '', '',
                         f'{l1:.4f}'))
    return table(('system', 'basis', 'nao', 'E (Ha)', 'E - E(largest) mHa',
                  'int|rho_fit - rho_KS| (e)'), rows)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--heldout', default=os.path.join(ROOT, 'runs', 'ofdft_data', 'test.pt'))
    p.add_argument('--level', type=int, default=2, help='grid level (the training grid)')
    p.add_argument('--sizes', default='8,16,32,48,64,96')
    p.add_argument('--learned-max', type=int, default=16,
                   help='largest chain for KineticNet timings (its grid-atom edges grow fast)')
    p.add_argument('--quick', action='store_true', help='smaller scaling run')
    p.add_argument('--out', help='also write the tables as markdown to this file')
    p.add_argument('--png', help='write the wall-time plot (log-log) to this PNG file')
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    lib.num_threads(1)
    sizes = [int(x) for x in ('4,8,16' if args.quick else args.sizes).split(',')]
    t0 = time.perf_counter()
    out = []

    def emit(text=''):
        print(text, flush=True)
        out.append(text)
    emit('## 1. Learned T_s against KS on held-out geometries and potentials (kcal/mol)\n')
    emit(heldout_ts(args.heldout) + '\n')
    emit('## 2. Density optimisation from a SAD start against RKS-LDA (unc-cc-pvdz, grid '
         f'level {args.level}); * = molecule not in training\n')
    emit(density_opt(args.level, ['kineticnet', 'tf+1/9vw', 'vw']) + '\n')
    emit('## 3. Wall time against H-chain length (unc-cc-pvdz, LDA, density fitting, '
         'grid level 2, 1 thread)\n')
    emit(scaling(sizes, ['tf+1/9vw', 'kineticnet'], args.learned_max) + '\n')
    if args.png:
        write_png(args.png, scaling.times)
        emit(f'PNG: {os.path.relpath(args.png, ROOT)} (log-log, x: n(H) with a vertical line '
             'per doubling, y: wall time with a line per decade; red RKS, orange RKS with the '
             'screened J, blue OF TF+1/9vW, green OF KineticNet)\n')
    emit('## 4. Basis-set error of the representation rho = N psi^2\n')
    emit(basis_error(args.level) + '\n')
    emit(f'total benchmark time {time.perf_counter() - t0:.0f} s')
    if args.out:
        cmd = 'python benchmarks/ofdft.py ' + ' '.join(sys.argv[1:] if argv is None else argv)
        with open(args.out, 'w') as f:
            f.write(f'# OF-DFT benchmark\n\nCommand: `{cmd}`  \n'
                    f'Date: {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}, '
                    f'pyscf {__import__("pyscf").__version__}, torch {torch.__version__}, '
                    f'{os.cpu_count()} shared CPU cores, 1 thread.\n\n')
            f.write('\n'.join(out) + '\n')


if __name__ == '__main__':
    main()
