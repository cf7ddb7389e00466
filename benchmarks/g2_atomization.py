'''G2/97 atomization energies of the learned and the standard XC functionals, in one run.

What it measures: for the 148 molecules of G2/97 (G2-1: 55, G2-2: 93) and the 14 atoms they are
made of, the SCF total energy with every requested functional, and from those the atomization
energy AE = sum_atoms E(atom) - E(molecule) in kcal/mol (``g2.HARTREE_TO_KCAL``).  The error is
AE - De, where De is the experimental electronic atomization energy of
``pyscf_ml.data.g2.atomization_energy`` (ase's G2/97 tables: heats of formation, ZPE and thermal
corrections; no experimental number is typed in here).

    python benchmarks/g2_atomization.py                        # all 148 molecules, 12 functionals
    python benchmarks/g2_atomization.py --subset g2-1 --functionals nn-gga,pbe --time-budget 36000
    python benchmarks/g2_atomization.py --molecules H2O,NH3 --basis def2-svp --functionals pbe

Choices (all stated again in the summary):
- one basis for molecules and atoms, def2-TZVP by default (``--basis``);
- PySCF's default integration grids (level 3: Treutler-Ahlrichs radial grids, Becke partition,
  NWChem pruning), built per system and the same for every functional;
- density fitting of the Coulomb integrals (and of B3LYP's exact exchange) with the
  def2-universal-jkfit auxiliary basis, ON by default: exact exchange with 4-index integrals is
  too slow on a few cores.  ``--no-density-fit`` gives plain integrals;
- closed-shell molecules RKS, open-shell molecules UKS (2S = ``g2.spin``), atoms always UKS with
  their G2 spins (Be a singlet); conv_tol 1e-8 (``--conv-tol``), max_cycle 100 (``--max-cycle``);
- functionals: nn-lsda, nn-gga, nn-metagga, nn-nra (this project's shipped weights, or the
  files given with ``--weights nn-nra=FILE``);
  published-lsda/-gga/-metagga/-nra (the weights released by Nagai, Akashi & Sugino 2020, read
  from ../shared/reference/nagai2020 beside the repository when present, otherwise skipped with
  a note); svwn, pbe, scan, b3lyp (libxc through PySCF).  ``--functionals`` picks a comma list.

SCF retry ladder, per (functional, system), each step a fresh SCF object:
  1. plain DIIS from the default (minao) guess, max_cycle ``--max-cycle``;
  2. from the default guess, damping 0.5 (during the first cycles, before DIIS starts at cycle
     10) and level shift 0.3, max_cycle 200;
  3. second-order SCF (``mf.newton()``) from the last density of step 2 (default guess if step 2
     raised).  Nonlocal functionals (nn-nra, published-nra) have no second derivatives: for them
     step 3 is damping 0.7 (before DIIS starts at cycle 20) + level shift 1.0, max_cycle 300,
     from the default guess.
An exception in a step is recorded and the next step runs.  A system that fails every step is
written with converged=False and listed in the summary's table of failures; its molecules (or,
for an atom, every molecule containing it) get no AE for that functional and count as failures.

Order and resume: atoms first, then molecules by number of AO functions ascending, each system
with every requested functional, so a partial run (``--time-budget``, or an interrupt) has
complete rows for the smaller molecules.  Every finished (functional, system) is appended to the
CSV at once; rerunning resumes and never recomputes a row whose (functional, system, basis,
density fit, grid) is already there, failed rows included (delete a row to retry it).  conv_tol
and the ladder are not part of that key: use a new ``--csv`` when changing them.  The key of a
learned functional includes the sha256 of its weight file (column ``weights``), so retrained
weights are computed afresh and the summary uses only rows of the weights in place now.

Outputs: the CSV of energies (``--csv``); the markdown summary (``--summary``: the command,
settings and, per functional, MAE / max |error| / mean signed error for G2-1, G2-2 and all,
molecules with an AE, failures); ``<summary stem>_errors.csv`` (AE - De per molecule and
functional; named after the summary, so that summaries of several selections from one energy CSV
keep their own); a PNG of the error distributions (``--png``).  One line per finished SCF goes
to stderr.
'''
import argparse
import contextlib
import csv
import datetime
import gc
import math
import os
import shlex
import sys
import time

import pyscf
from pyscf import dft, gto, lib

import pyscf_ml
from pyscf_ml.data import g2
from pyscf_ml.xc.nra_kernel import clear_kernel_cache

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, 'benchmarks', 'results')
# the committed results of the shipped weights, which --weights must not write to
COMMITTED_OUTPUTS = {os.path.abspath(os.path.join(RESULTS, f'g2_atomization{tag}{ext}'))
                     for tag in ('', '_all') for ext in ('.md', '.png')} | \
    {os.path.abspath(os.path.join(RESULTS, 'g2_atomization.csv'))}
NAGAI_DIR = os.path.join(os.path.dirname(ROOT), 'shared', 'reference', 'nagai2020')

OURS = ['nn-lsda', 'nn-gga', 'nn-metagga', 'nn-nra']
PUBLISHED = {'published-lsda': ('nn-lsda', 'NNLSDA'), 'published-gga': ('nn-gga', 'NNGGA'),
             'published-metagga': ('nn-metagga', 'NNmGGA'), 'published-nra': ('nn-nra', 'NNNRA')}
STANDARD = ['svwn', 'pbe', 'scan', 'b3lyp']
FUNCTIONALS = OURS + list(PUBLISHED) + STANDARD

DF_AUXBASIS = 'def2-universal-jkfit'
SUBSETS = ('G2-1', 'G2-2', 'all')
# ladder steps 2 and 3 (nonlocal): damping acts only before DIIS starts (PySCF's get_fock)
STEP2 = {'damp': 0.5, 'level_shift': 0.3, 'diis_start_cycle': 10, 'max_cycle': 200}
STEP3_NONLOCAL = {'damp': 0.7, 'level_shift': 1.0, 'diis_start_cycle': 20, 'max_cycle': 300}
NEWTON_MAX_CYCLE = 50   # macro iterations of the second-order SCF (PySCF's default)

COLUMNS = ['functional', 'weights', 'system', 'kind', 'subset', 'basis', 'density_fit', 'grid',
           'method', 'spin', 'nao', 'e_tot', 'converged', 'ladder_step', 'cycles', 'wall_s',
           'conv_tol', 'error', 'finished']


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---- settings ---------------------------------------------------------------------------------
def default_grids():
    '''(key, description) of PySCF's default grids, as every SCF here uses them.'''
    g = dft.gen_grid.Grids(gto.M(atom='H 0 0 0; H 0 0 0.74', verbose=0))
    def name(f):
        return getattr(f, '__name__', str(f))
    desc = (f'PySCF default grids: level {g.level}, radial {name(g.radi_method)}, partition '
            f'{name(g.becke_scheme)}, pruning {name(g.prune)}')
    return f'default-level{g.level}', desc


def setting_key(basis, density_fit, grid):
    return basis.strip().lower(), (density_fit or 'none'), grid


def is_nonlocal(xc):
    fn = pyscf_ml.xc.lookup(xc)
    return bool(fn is not None and fn.is_nonlocal)


# ---- one SCF with the retry ladder ------------------------------------------------------------
def _make_mf(mol, xc, uks, density_fit, conv_tol, verbose):
    mf = (dft.UKS if uks else dft.RKS)(mol, xc=xc)
    if density_fit:
        mf = mf.density_fit(auxbasis=density_fit)
    mf.conv_tol = conv_tol
    mf.chkfile = None
    mf.verbose = verbose
    return mf


def run_scf(mol, xc, *, uks=None, density_fit=DF_AUXBASIS, conv_tol=1e-8, max_cycle=100,
            max_cycles=None, verbose=0):
    '''Total energy of ``mol`` with functional ``xc`` through the retry ladder.

    uks: None = UKS for open shells (mol.spin != 0), RKS otherwise; True/False forces it.
    density_fit: auxiliary basis name, or None/'' for 4-index integrals.
    max_cycles: optional (step 1, step 2, step 3) cycle limits overriding ``max_cycle``, 200 and
    50 (newton macro iterations) / 300 (nonlocal step 3); used to force failures in tests.

    Returns dict(e_tot, converged, ladder_step (1-3, 0 = none converged), cycles (of the last
    step run), wall_s (all steps), method, error (messages of the failed steps, '' if step 1
    converged)).  No SCF object is kept.'''
    uks = bool(mol.spin) if uks is None else bool(uks)
    nonlocal_ = is_nonlocal(xc)
    m1, m2, m3 = max_cycles or (max_cycle, STEP2['max_cycle'],
                                STEP3_NONLOCAL['max_cycle'] if nonlocal_ else NEWTON_MAX_CYCLE)
    out = {'e_tot': math.nan, 'converged': False, 'ladder_step': 0, 'cycles': 0,
           'wall_s': 0.0, 'method': 'UKS' if uks else 'RKS', 'error': ''}
    errors = []
    dm2 = None
    t_start = time.perf_counter()
    for step in (1, 2, 3):
        mf = None
        cycles = 0
        try:
            mf = _make_mf(mol, xc, uks, density_fit, conv_tol, verbose)
            if step == 1:
                mf.max_cycle = m1
                e = mf.kernel()
                cycles = mf.cycles
            elif step == 2 or nonlocal_:
                for k, v in (STEP2 if step == 2 else STEP3_NONLOCAL).items():
                    setattr(mf, k, v)
                mf.max_cycle = m2 if step == 2 else m3
                try:
                    e = mf.kernel()
                finally:
                    cycles = getattr(mf, 'cycles', 0)
                    if step == 2 and mf.mo_coeff is not None:
                        dm2 = mf.make_rdm1()
            else:
                mf.max_cycle = m3
                mf = mf.newton()
                macro = [0]

                def count(env, macro=macro):
                    macro[0] = max(macro[0], env.get('imacro', -1) + 1)
                mf.callback = count
                e = mf.kernel(dm0=dm2)
                cycles = macro[0]
            converged = bool(mf.converged) and math.isfinite(e)
            if converged:
                out.update(e_tot=float(e), converged=True, ladder_step=step)
            else:
                errors.append(f'step {step}: not converged in {cycles} cycles (E={e:.8f})')
        except Exception as err:   # noqa: BLE001 - any failure of a step is recorded
            msg = ' '.join(f'{type(err).__name__}: {err}'.split())
            errors.append(f'step {step}: {msg[:300]}')
        out['cycles'] = cycles
        del mf
        if out['converged']:
            break
    out['wall_s'] = time.perf_counter() - t_start
    out['error'] = '; '.join(errors)
    return out


# ---- rows (the CSV cache) ---------------------------------------------------------------------
def make_row(result, functional, system, kind, mol, basis, density_fit, grid, conv_tol,
             weights=''):
    '''A typed CSV row from a :func:`run_scf` result; ``weights`` is the functional's
    :func:`weights_fingerprint` ('' for libxc functionals).'''
    basis, density_fit, grid = setting_key(basis, density_fit, grid)
    return {'functional': functional, 'weights': weights, 'system': system, 'kind': kind,
            'subset': 'atom' if kind == 'atom' else g2.subset_of(system), 'basis': basis,
            'density_fit': density_fit, 'grid': grid, 'method': result['method'],
            'spin': mol.spin, 'nao': mol.nao, 'e_tot': result['e_tot'],
            'converged': result['converged'], 'ladder_step': result['ladder_step'],
            'cycles': result['cycles'], 'wall_s': result['wall_s'], 'conv_tol': conv_tol,
            'error': result['error'],
            'finished': datetime.datetime.now().isoformat(timespec='seconds')}


def _format(row):
    out = {k: str(row[k]) for k in COLUMNS}
    e = row['e_tot']
    out['e_tot'] = '' if e is None or not math.isfinite(e) else f'{e:.12f}'
    out['wall_s'] = f'{row["wall_s"]:.2f}'
    out['conv_tol'] = f'{row["conv_tol"]:g}'
    return out


def _parse(row):
    out = dict(row)
    out['e_tot'] = float(row['e_tot']) if row['e_tot'] else math.nan
    out['converged'] = row['converged'] == 'True'
    for k in ('spin', 'nao', 'ladder_step', 'cycles'):
        out[k] = int(row[k])
    out['wall_s'] = float(row['wall_s'])
    out['conv_tol'] = float(row['conv_tol'])
    return out


def row_key(row):
    '''What an energy is cached by: the functional and its weight file, the system, basis,
    density fitting and grid (a retrained network never reuses its predecessor's energies).'''
    return ((row['functional'], row['weights'], row['system'])
            + setting_key(row['basis'], row['density_fit'], row['grid']))


def load_rows(path):
    '''Typed rows of an energy CSV (empty if the file does not exist).'''
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return []
    with open(path, newline='') as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != COLUMNS:
            raise SystemExit(f'{path} has columns {reader.fieldnames}, not those of this script '
                             f'({COLUMNS}); use another --csv')
        return [_parse(r) for r in reader]


def append_row(path, row):
    '''Append one row to the CSV (header first if the file is new), flushed to disk at once;
    returns the row as a later run will read it back.'''
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    new = not os.path.exists(path) or os.path.getsize(path) == 0
    with open(path, 'a', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        if new:
            writer.writeheader()
        writer.writerow(_format(row))
        f.flush()
        os.fsync(f.fileno())
    return _parse(_format(row))


# ---- atomization energies and statistics ------------------------------------------------------
def atomization_errors(rows, molecules=None, functionals=None):
    '''One record per (functional, molecule) from the energy rows of ONE (basis, density fit,
    grid) setting: dict(functional, molecule, subset, de_exp, ae, error, status, failed), with
    ae = sum_atoms E(atom) - E(molecule) and error = ae - De (kcal/mol), both None unless
    status == 'ok'.  status 'failed': the molecule's SCF or one of its atoms' did not converge
    (``failed`` names them); 'pending': some energy is not in ``rows`` yet.'''
    settings = {setting_key(r['basis'], r['density_fit'], r['grid']) for r in rows}
    if len(settings) > 1:
        raise ValueError(f'rows of several settings {sorted(settings)}: filter them first')
    energy = {(r['functional'], r['system']): r for r in rows}
    if molecules is None:
        molecules = sorted({r['system'] for r in rows if r['kind'] == 'molecule'})
    if functionals is None:
        functionals = sorted({r['functional'] for r in rows})
    records = []
    for xc in functionals:
        for name in molecules:
            comp = g2.composition(name)
            needed = [name] + sorted(comp)
            found = [energy.get((xc, s)) for s in needed]
            failed = [s for s, r in zip(needed, found) if r is not None and not r['converged']]
            rec = {'functional': xc, 'molecule': name, 'subset': g2.subset_of(name),
                   'de_exp': g2.atomization_energy(name), 'ae': None, 'error': None,
                   'status': 'ok', 'failed': failed}
            if failed:
                rec['status'] = 'failed'
            elif any(r is None for r in found):
                rec['status'] = 'pending'
            else:
                e_atoms = sum(n * energy[(xc, a)]['e_tot'] for a, n in comp.items())
                rec['ae'] = (e_atoms - energy[(xc, name)]['e_tot']) * g2.HARTREE_TO_KCAL
                rec['error'] = rec['ae'] - rec['de_exp']
            records.append(rec)
    return records


def _stats(errors):
    if not errors:
        return {'n': 0, 'mae': None, 'max_abs': None, 'me': None}
    return {'n': len(errors), 'mae': sum(abs(e) for e in errors) / len(errors),
            'max_abs': max(abs(e) for e in errors), 'me': sum(errors) / len(errors)}


def summarise(records, functionals=None, rows=None):
    '''Per functional: {'G2-1'|'G2-2'|'all': dict(n, mae, max_abs, me)} over the molecules with
    an AE, plus n_requested, n_ae, n_failed (molecules without AE because their SCF or one of
    their atoms' failed), n_pending (not computed yet) and, given the energy ``rows``,
    n_scf_failed (systems, atoms included, that failed every ladder step).'''
    if functionals is None:
        functionals = list(dict.fromkeys(r['functional'] for r in records))
    out = {}
    for xc in functionals:
        recs = [r for r in records if r['functional'] == xc]
        ok = [r for r in recs if r['status'] == 'ok']
        s = {sub: _stats([r['error'] for r in ok if sub in ('all', r['subset'])])
             for sub in SUBSETS}
        s.update(n_requested=len(recs), n_ae=len(ok),
                 n_failed=sum(r['status'] == 'failed' for r in recs),
                 n_pending=sum(r['status'] == 'pending' for r in recs),
                 n_scf_failed=None if rows is None else
                 sum(r['functional'] == xc and not r['converged'] for r in rows))
        out[xc] = s
    return out


def common_subset(records, functionals):
    '''Like :func:`summarise`, restricted to the molecules with an AE for EVERY functional, so
    that MAEs compare like with like while a run is partial.  Returns (molecules, summary).'''
    ok = {}
    for r in records:
        if r['status'] == 'ok':
            ok.setdefault(r['molecule'], set()).add(r['functional'])
    common = sorted(m for m, fs in ok.items() if set(functionals) <= fs)
    recs = [r for r in records if r['molecule'] in common]
    return common, summarise(recs, functionals)


def scf_failures(rows):
    '''The rows whose SCF failed every step of the ladder.'''
    return [r for r in rows if not r['converged']]


# ---- text output ------------------------------------------------------------------------------
HEADER = (['functional'] + [f'{sub} {q}' for sub in SUBSETS for q in ('MAE', 'max abs', 'ME')]
          + ['AE / requested', 'failed', 'pending', 'failed SCFs'])


def _table_rows(summary):
    def fmt(v):
        return '-' if v is None else f'{v:.2f}'
    rows = []
    for xc, s in summary.items():
        rows.append([xc] + [fmt(s[sub][q]) for sub in SUBSETS for q in ('mae', 'max_abs', 'me')]
                    + [f'{s["n_ae"]}/{s["n_requested"]}', str(s['n_failed']),
                       str(s['n_pending']), '-' if s['n_scf_failed'] is None
                       else str(s['n_scf_failed'])])
    return rows


def plain_table(summary):
    rows = [HEADER] + _table_rows(summary)
    width = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    lines = ['  '.join(c.ljust(w) if i == 0 else c.rjust(w)
                       for i, (c, w) in enumerate(zip(r, width))) for r in rows]
    lines.insert(1, '-' * len(lines[0]))
    return '\n'.join(lines)


def markdown_table(summary):
    lines = ['| ' + ' | '.join(HEADER) + ' |', '|' + '---|' * len(HEADER)]
    lines += ['| ' + ' | '.join(r) + ' |' for r in _table_rows(summary)]
    return '\n'.join(lines)


def failures_markdown(failures):
    if not failures:
        return 'No SCF failed.'
    lines = ['| functional | system | kind | method | error |', '|---|---|---|---|---|']
    lines += [f'| {r["functional"]} | {r["system"]} | {r["kind"]} | {r["method"]} | '
              f'{r["error"].replace("|", "/")} |' for r in failures]
    return '\n'.join(lines)


def _shown(path):
    '''A path as the summary shows it: relative to the repository when inside it (the default
    outputs are absolute paths, which would make the committed summary machine-specific).'''
    rel = os.path.relpath(os.path.abspath(path), ROOT)
    return path if rel.startswith('..') else rel


def markdown(summary, failures, info):
    lines = ['# G2/97 atomization energies', '',
             f'Command: `{info["command"]}`', '',
             (f'- date: {info["date"]}; PySCF {pyscf.__version__}; pyscf_ml '
              f'{pyscf_ml.__version__}; {lib.num_threads()} threads'),
             f'- basis: {info["basis"]} (molecules and atoms)',
             f'- grids: {info["grid_desc"]}',
             f'- density fitting: {info["df_desc"]}',
             (f'- SCF: conv_tol {info["conv_tol"]:g} (values in the rows used: '
              f'{info["conv_tols"]}), closed shells RKS, open shells UKS, atoms UKS with their '
              f'G2 spins; retry ladder 1 DIIS (max_cycle {info["max_cycle"]}) -> 2 damping 0.5 '
              f'+ level shift 0.3 -> 3 newton (nonlocal: damping 0.7 + level shift 1.0)'),
             ('- reference: experimental De from `pyscf_ml.data.g2.atomization_energy` (ase '
              'G2/97 tables); error = AE(calc) - De in kcal/mol; ME = mean signed error'),
             f'- molecules requested: {info["n_molecules"]} ({info["selection"]})',
             (f'- energies: `{_shown(info["csv"])}`; per-molecule errors: '
              f'`{_shown(info["errors_csv"])}`; plot: `{_shown(info["png"])}`')]
    lines += [f'- weights: {w}' for w in info.get('weights', [])]
    lines += [f'- note: {n}' for n in info['notes']]
    common, common_summary = info['common']
    lines += ['', markdown_table(summary), '',
              f'Same molecules for every functional ({len(common)} with an AE for all of them):',
              '', markdown_table(common_summary), '',
              ('"failed": requested molecules without AE because their own SCF or one of '
               'their atoms\' failed every step of the ladder; "pending": not computed yet '
               '(time budget or interrupted run); "failed SCFs": systems (atoms included) whose '
               'SCF failed every step, listed below.'), '',
              '## SCF failures', '', failures_markdown(failures), '',
              '## Ladder steps used', '', info['ladder_counts'], '']
    return '\n'.join(lines)


def ladder_counts(rows, functionals):
    '''"xc: step 1 n, step 2 n, ..." over the rows (none = failed every step).'''
    parts = []
    for xc in functionals:
        steps = [r['ladder_step'] for r in rows if r['functional'] == xc]
        counts = [f'{"none" if s == 0 else f"step {s}"} {steps.count(s)}'
                  for s in (1, 2, 3, 0) if steps.count(s)]
        if counts:
            parts.append(f'{xc}: ' + ', '.join(counts))
    return '; '.join(parts) or '-'


def write_errors_csv(path, records, functionals, molecules):
    err = {(r['functional'], r['molecule']): r['error'] for r in records}
    with open(path, 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['molecule', 'subset', 'De_exp'] + list(functionals))
        for m in molecules:
            w.writerow([m, g2.subset_of(m), f'{g2.atomization_energy(m):.3f}']
                       + ['' if err.get((xc, m)) is None else f'{err[(xc, m)]:.3f}'
                          for xc in functionals])


def plot_errors(records, functionals, path, title):
    '''Box plot + jittered points of AE - De per functional, G2-1 and G2-2 side by side.'''
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np

    colors = {'G2-1': '#1f77b4', 'G2-2': '#d62728'}
    rng = np.random.default_rng(0)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.0 * len(functionals) + 2), 5))
    for i, xc in enumerate(functionals):
        for sub, dx in (('G2-1', -0.2), ('G2-2', 0.2)):
            y = [r['error'] for r in records
                 if r['functional'] == xc and r['subset'] == sub and r['status'] == 'ok']
            if not y:
                continue
            ax.boxplot([y], positions=[i + dx], widths=0.32, showfliers=False,
                       medianprops={'color': 'k'}, boxprops={'color': colors[sub]},
                       whiskerprops={'color': colors[sub]}, capprops={'color': colors[sub]})
            ax.scatter(i + dx + rng.uniform(-0.12, 0.12, len(y)), y, s=9, alpha=0.6,
                       color=colors[sub], zorder=3)
    for sub, c in colors.items():
        ax.scatter([], [], color=c, label=sub)
    ax.axhline(0, color='gray', lw=0.8)
    ax.set_xticks(range(len(functionals)))
    ax.set_xticklabels(functionals, rotation=30, ha='right')
    ax.set_xlim(-0.6, len(functionals) - 0.4)
    ax.set_ylabel('AE(calc) - De(exp)  (kcal/mol)')
    ax.set_title(title, fontsize=10)
    ax.legend(loc='best', fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---- driver -----------------------------------------------------------------------------------
def weights_fingerprint(xc):
    '''sha256[:12] of a learned functional's weight file ('' for a libxc functional): part of
    the CSV cache key.'''
    from pyscf_ml.modelcard import sha256_of
    fn = pyscf_ml.xc.lookup(xc)
    path = getattr(fn, 'weights_path', None) if fn is not None else None
    return sha256_of(path)[:12] if path and os.path.isfile(path) else ''


def weight_fingerprints(fingerprints):
    '''"name: file sha256[:12]" of each learned functional, for the summary.'''
    return [f'{xc}: `{_shown(pyscf_ml.xc.lookup(xc).weights_path)}` sha256 {fp}'
            for xc, fp in fingerprints.items() if fp]


def resolve_functionals(names, published_dir):
    '''Registers the requested published-* names from published_dir; returns (usable names,
    notes on the skipped ones).  Unknown names raise SystemExit.'''
    usable, notes = [], []
    for xc in names:
        if xc in PUBLISHED:
            form, fname = PUBLISHED[xc]
            path = os.path.join(published_dir, fname)
            if not os.path.isfile(path):
                notes.append(f'{xc} skipped: published weights not found at {path}')
                log(f'# {notes[-1]}')
                continue
            try:
                pyscf_ml.xc.register(xc, form, path, overwrite=True)
            except Exception as err:   # noqa: BLE001 - a bad weight file skips that functional
                notes.append(f'{xc} skipped: {type(err).__name__}: {err}')
                log(f'# {notes[-1]}')
                continue
        try:
            dft.libxc.xc_type(xc)   # answered by pyscf_ml for the registered names
        except Exception as err:   # noqa: BLE001
            raise SystemExit(f'unknown functional {xc!r}: {err}') from None
        usable.append(xc)
    return usable, notes


@contextlib.contextmanager
def weight_files(specs, requested):
    '''While open, each NAME=FILE of ``--weights`` is registered over the shipped NAME; the
    previous entries come back on exit.  A bad spec, a NAME not in ``requested`` or a bad
    weight file raises SystemExit (a wrong file must not silently fall back to the shipped
    one).'''
    previous = []
    try:
        for spec in specs:
            name, sep, path = spec.partition('=')
            name = name.strip().lower()
            if not sep or name not in pyscf_ml.xc.registry.SHIPPED:
                raise SystemExit(f'--weights {spec!r}: expected NAME=FILE with NAME one of '
                                 f'{", ".join(sorted(pyscf_ml.xc.registry.SHIPPED))}')
            if name not in requested:
                raise SystemExit(f'--weights {spec!r}: {name} is not in --functionals')
            old = pyscf_ml.xc.lookup(name)
            try:
                pyscf_ml.xc.register(name, name, path, overwrite=True)
            except Exception as err:   # noqa: BLE001 - any unreadable file is fatal here
                raise SystemExit(f'--weights {spec!r}: {type(err).__name__}: {err}') from None
            previous.append(old)
            log(f'# {name}: weights {path}')
        yield
    finally:
        for fn in reversed(previous):   # a name given twice gets its first entry back
            pyscf_ml.xc.registry.register_functional(fn, overwrite=True)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--basis', default='def2-tzvp')
    p.add_argument('--subset', default='all', choices=['all', 'g2-1', 'g2-2'])
    p.add_argument('--molecules', help='comma list of G2/97 names (overrides --subset)')
    p.add_argument('--functionals', default=','.join(FUNCTIONALS), help='comma list')
    p.add_argument('--csv', default=os.path.join(RESULTS, 'g2_atomization.csv'),
                   help='energy cache; rerunning the same command resumes from it')
    p.add_argument('--summary', default=os.path.join(RESULTS, 'g2_atomization.md'))
    p.add_argument('--png', default=os.path.join(RESULTS, 'g2_atomization.png'))
    p.add_argument('--density-fit', action=argparse.BooleanOptionalAction, default=True,
                   help=f'density fitting with {DF_AUXBASIS} (default on)')
    p.add_argument('--conv-tol', type=float, default=1e-8)
    p.add_argument('--max-cycle', type=int, default=100, help='cycles of ladder step 1')
    p.add_argument('--time-budget', type=float, default=None,
                   help='seconds after which no new SCF is started (results so far are kept)')
    p.add_argument('--weights', action='append', default=[], metavar='NAME=FILE',
                   help='evaluate the learned name (nn-lsda, nn-gga, nn-metagga, nn-nra) with '
                        'this weight file instead of the shipped one, e.g. retrained or '
                        'candidate weights; repeatable.  Rows are keyed by the file\'s sha256')
    p.add_argument('--published-dir', default=NAGAI_DIR,
                   help='directory of the published Nagai 2020 weight files')
    p.add_argument('--verbose', action='store_true', help='PySCF SCF output (verbose 4)')
    return p.parse_args(argv)


def _systems(molecules, basis):
    '''[(name, kind, mol)]: atoms first, then molecules, each by number of AOs ascending.'''
    atoms = sorted({a for m in molecules for a in g2.composition(m)})
    out = []
    for kind, names in (('atom', atoms), ('molecule', molecules)):
        mols = [(name, kind, g2.mole(name, basis)) for name in names]
        out += sorted(mols, key=lambda t: (t[2].nao, t[0]))
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    requested = [x.strip().lower() for x in args.functionals.split(',') if x.strip()]
    if args.weights and COMMITTED_OUTPUTS & {os.path.abspath(p)
                                             for p in (args.csv, args.summary, args.png)}:
        raise SystemExit('--weights: give --csv, --summary and --png of their own (the '
                         'committed results are the shipped weights\')')
    with weight_files(args.weights, requested):
        return _run(args, argv, requested)


def _run(args, argv, requested):
    t_start = time.perf_counter()
    if args.molecules:
        molecules = [m.strip() for m in args.molecules.split(',') if m.strip()]
        for m in molecules:
            try:
                g2.subset_of(m)
            except KeyError as err:
                raise SystemExit(f'--molecules: {err.args[0]}') from None
        selection = '--molecules'
    else:
        molecules = g2.molecule_names(args.subset)
        selection = f'subset {args.subset}'
    functionals, notes = resolve_functionals(requested, args.published_dir)
    grid, grid_desc = default_grids()
    df = DF_AUXBASIS if args.density_fit else None
    setting = setting_key(args.basis, df, grid)
    verbose = 4 if args.verbose else 0

    fingerprints = {xc: weights_fingerprint(xc) for xc in functionals}
    rows = load_rows(args.csv)
    done = {row_key(r) for r in rows}
    systems = _systems(molecules, args.basis)
    log(f'# {len(systems)} systems x {len(functionals)} functionals, basis {args.basis}, '
        f'density fitting {df or "off"}, {grid_desc}; {len(done)} rows already in {args.csv}')
    not_started, interrupted = 0, False
    try:
        for name, kind, mol in systems:
            for xc in functionals:
                if (xc, fingerprints[xc], name) + setting in done:
                    continue
                budget = args.time_budget
                if budget is not None and time.perf_counter() - t_start > budget:
                    not_started += 1
                    continue
                res = run_scf(mol, xc, uks=True if kind == 'atom' else None, density_fit=df,
                              conv_tol=args.conv_tol, max_cycle=args.max_cycle, verbose=verbose)
                row = make_row(res, xc, name, kind, mol, args.basis, df, grid, args.conv_tol,
                               fingerprints[xc])
                row = append_row(args.csv, row)
                rows.append(row)
                done.add(row_key(row))
                status = (f'step {res["ladder_step"]}' if res['converged']
                          else f'FAILED ({res["error"]})')
                log(f'{xc:18s} {name:12s} {res["method"]} nao={mol.nao:4d} '
                    f'E={res["e_tot"]:.10f} {status} cycles={res["cycles"]} '
                    f'wall={res["wall_s"]:.1f}s')
            gc.collect()
            clear_kernel_cache()   # a big molecule's NN-NRA kernel takes GBs
    except KeyboardInterrupt:   # keep what is in the CSV and report it
        interrupted = True
        notes.append('interrupted: the SCF running then was not recorded; rerun to resume')
        log(f'# {notes[-1]}')
    if not_started:
        notes.append(f'time budget of {args.time_budget:g} s reached: {not_started} '
                     f'(functional, system) SCFs not started; rerun the command to resume')
        log(f'# {notes[-1]}')

    names = {name for name, _, _ in systems}
    used = [r for r in rows if r['functional'] in functionals and r['system'] in names
            and r['weights'] == fingerprints[r['functional']]
            and setting_key(r['basis'], r['density_fit'], r['grid']) == setting]
    records = atomization_errors(used, molecules, functionals)
    summary = summarise(records, functionals, used)
    failures = scf_failures(used)
    errors_csv = os.path.splitext(args.summary)[0] + '_errors.csv'
    info = {
        'command': 'python benchmarks/g2_atomization.py ' + shlex.join(argv),
        'date': datetime.datetime.now().isoformat(timespec='seconds'), 'basis': args.basis,
        'grid_desc': grid_desc + ' (the same for every functional)',
        'df_desc': (f'on, auxiliary basis {DF_AUXBASIS} (Coulomb and B3LYP exact exchange)'
                    if df else 'off (4-index integrals)'),
        'conv_tol': args.conv_tol,
        'conv_tols': ', '.join(sorted({f'{r["conv_tol"]:g}' for r in used})) or '-',
        'max_cycle': args.max_cycle, 'n_molecules': len(molecules), 'selection': selection,
        'csv': args.csv, 'errors_csv': errors_csv, 'png': args.png, 'notes': notes,
        'ladder_counts': ladder_counts(used, functionals),
        'weights': weight_fingerprints(fingerprints),
        'common': common_subset(records, functionals)}
    print(plain_table(summary))
    print(f'\non the {len(info["common"][0])} molecules with an AE for every functional:')
    print(plain_table(info['common'][1]))
    if failures:
        print('\nSCF failures (every ladder step):')
        for r in failures:
            print(f'  {r["functional"]:18s} {r["system"]:12s} {r["error"]}')
    for n in notes:
        print(f'note: {n}')
    for path in (args.summary, args.png, errors_csv):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(args.summary, 'w') as f:
        f.write(markdown(summary, failures, info))
    write_errors_csv(errors_csv, records, functionals, molecules)
    plot_errors(records, functionals, args.png,
                f'G2/97 atomization energy errors, {args.basis}, DF {df or "off"} '
                f'({sum(s["n_ae"] for s in summary.values())} AEs)')
    return 130 if interrupted else 0


if __name__ == '__main__':
    sys.exit(main())
