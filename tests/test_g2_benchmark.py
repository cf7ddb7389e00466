'''benchmarks/g2_atomization.py: its SCF equals plain PySCF, its AE is the textbook formula, the
retry ladder retries and reports, failures are reported and get no AE, a rerun resumes.'''
import csv
import math
import os

import pytest

pytest.importorskip('ase')

from conftest import load_benchmark_script
from pyscf import dft

from pyscf_ml.data import g2

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope='module')
def bench():
    return load_benchmark_script('g2_atomization')


@pytest.fixture(scope='module')
def h2():
    return g2.mole('H2', 'def2-svp')


@pytest.fixture(scope='module')
def h_atom():
    return g2.mole('H', 'def2-svp')


def _plain(mol, uks, df=None):
    mf = (dft.UKS if uks else dft.RKS)(mol, xc='pbe')
    if df:
        mf = mf.density_fit(auxbasis=df)
    mf.conv_tol = 1e-8
    e = mf.kernel()
    assert mf.converged
    return e


@pytest.fixture(scope='module')
def reference(h2, h_atom):
    '''Plain PySCF PBE energies (no density fitting) of H2 (RKS) and H (UKS).'''
    return {'H2': _plain(h2, False), 'H': _plain(h_atom, True)}


@pytest.fixture(scope='module')
def runs(bench, h2, h_atom):
    '''run_scf of H2 (RKS) and H (UKS), PBE, no density fitting.'''
    return {'H2': bench.run_scf(h2, 'pbe', density_fit=None),
            'H': bench.run_scf(h_atom, 'pbe', uks=True, density_fit=None)}


def _row(bench, res, name, kind, mol, xc='pbe'):
    return bench.make_row(res, xc, name, kind, mol, 'def2-svp', None, 'default-level3', 1e-8)


def test_run_scf_is_plain_pyscf_and_ae_is_the_formula(bench, h2, h_atom, reference, runs):
    r_h2, r_h = runs['H2'], runs['H']
    assert (r_h2['method'], r_h['method']) == ('RKS', 'UKS')
    for r in (r_h2, r_h):
        assert r['converged'] and r['ladder_step'] == 1 and r['error'] == ''
        assert r['cycles'] > 0 and r['wall_s'] > 0
    assert abs(r_h2['e_tot'] - reference['H2']) < 1e-8
    assert abs(r_h['e_tot'] - reference['H']) < 1e-8
    assert r_h2['e_tot'] < 2 * r_h['e_tot']   # H2 is bound

    rows = [_row(bench, r_h, 'H', 'atom', h_atom), _row(bench, r_h2, 'H2', 'molecule', h2)]
    (rec,) = bench.atomization_errors(rows, ['H2'], ['pbe'])
    expected = 627.509474 * (2 * r_h['e_tot'] - r_h2['e_tot'])
    assert rec['status'] == 'ok'
    assert abs(rec['ae'] - expected) < 1e-6
    assert abs(rec['error'] - (expected - g2.atomization_energy('H2'))) < 1e-6
    # PBE binds H2 by about 105 kcal/mol (Perdew, Burke & Ernzerhof, PRL 77, 3865 (1996),
    # Table I), def2-SVP within a few kcal/mol of that; ase's G2 data give De = 109.60
    assert 100 < rec['ae'] < 112 and abs(g2.atomization_energy('H2') - 109.60) < 0.01

    s = bench.summarise([rec])['pbe']
    assert (s['n_ae'], s['n_requested'], s['n_failed'], s['n_pending']) == (1, 1, 0, 0)
    assert rec['subset'] == 'G2-2'   # ase files H2 under G2-2
    assert s['G2-2']['n'] == 1 and s['G2-1']['n'] == 0 and s['G2-1']['mae'] is None
    assert abs(s['all']['mae'] - abs(rec['error'])) < 1e-12
    assert abs(s['all']['me'] - rec['error']) < 1e-12


def test_density_fitting_is_pyscfs(bench, h2):
    r = bench.run_scf(h2, 'pbe')   # density fitting on by default
    e_df = _plain(h2, False, df='def2-universal-jkfit')
    assert abs(r['e_tot'] - e_df) < 1e-8


def test_ladder_retries_and_reports_the_step(bench, h2, reference):
    r2 = bench.run_scf(h2, 'pbe', density_fit=None, max_cycles=(1, 200, 50))
    assert r2['converged'] and r2['ladder_step'] == 2
    assert r2['error'].startswith('step 1: not converged')
    assert abs(r2['e_tot'] - reference['H2']) < 1e-7
    r3 = bench.run_scf(h2, 'pbe', density_fit=None, max_cycles=(1, 1, 50))   # newton
    assert r3['converged'] and r3['ladder_step'] == 3
    assert 'step 1' in r3['error'] and 'step 2' in r3['error'] and 'step 3' not in r3['error']
    assert abs(r3['e_tot'] - reference['H2']) < 1e-7


def test_nonlocal_step3_is_not_newton(bench):
    '''NN-NRA has no second derivatives: its step 3 is damping + level shift, not newton.'''
    assert bench.is_nonlocal('nn-nra') and not bench.is_nonlocal('pbe')
    assert not bench.is_nonlocal('nn-gga')
    mol = g2.mole('H', 'sto-3g')
    r = bench.run_scf(mol, 'nn-nra', uks=True, density_fit=None, max_cycles=(1, 1, 300))
    assert r['converged'] and r['ladder_step'] == 3
    assert 'step 3' not in r['error'] and 'NotImplementedError' not in r['error']
    assert -0.55 < r['e_tot'] < -0.40     # the exact H atom energy is -0.5 Ha


def test_failure_is_reported_and_gets_no_ae(bench, h2, h_atom, runs):
    bad = bench.run_scf(h2, 'pbe', density_fit=None, max_cycles=(1, 1, 1))
    assert not bad['converged'] and bad['ladder_step'] == 0 and math.isnan(bad['e_tot'])
    assert all(f'step {k}' in bad['error'] for k in (1, 2, 3))
    ok = runs['H']
    rows = [_row(bench, ok, 'H', 'atom', h_atom), _row(bench, bad, 'H2', 'molecule', h2)]
    (rec,) = bench.atomization_errors(rows, ['H2'], ['pbe'])
    assert rec['status'] == 'failed' and rec['ae'] is None and rec['failed'] == ['H2']
    summary = bench.summarise([rec], rows=rows)
    s = summary['pbe']
    assert (s['n_ae'], s['n_failed'], s['n_scf_failed']) == (0, 1, 1) and s['all']['mae'] is None
    failures = bench.scf_failures(rows)
    assert [r['system'] for r in failures] == ['H2']
    text = bench.markdown_table(summary)
    assert '| pbe | - |' in text and '| 0/1 | 1 | 0 | 1 |' in text
    assert '| pbe | H2 | molecule | RKS |' in bench.failures_markdown(failures)
    # a failed atom takes every molecule made of it down with it
    rows = [_row(bench, bad, 'H', 'atom', h_atom), _row(bench, ok, 'H2', 'molecule', h2)]
    (rec,) = bench.atomization_errors(rows, ['H2'], ['pbe'])
    assert rec['status'] == 'failed' and rec['failed'] == ['H']
    # and a missing energy is pending, not failed
    (rec,) = bench.atomization_errors(rows[1:], ['H2'], ['pbe'])
    assert rec['status'] == 'pending' and rec['ae'] is None


def test_published_weights_absent_are_skipped_with_a_note(bench, tmp_path):
    names, notes = bench.resolve_functionals(['pbe', 'published-gga'], str(tmp_path))
    assert names == ['pbe'] and 'published-gga' in notes[0] and 'not found' in notes[0]
    with pytest.raises(SystemExit):
        bench.resolve_functionals(['no-such-functional'], str(tmp_path))


def test_main_resumes_without_recomputing(bench, tmp_path, monkeypatch):
    calls = []
    run_scf = bench.run_scf

    def counting(mol, xc, **kwargs):
        calls.append(xc)
        return run_scf(mol, xc, **kwargs)
    monkeypatch.setattr(bench, 'run_scf', counting)
    energies = tmp_path / 'e.csv'
    argv = ['--molecules', 'H2', '--basis', 'sto-3g', '--functionals', 'pbe,svwn',
            '--no-density-fit', '--csv', str(energies), '--summary', str(tmp_path / 's.md'),
            '--png', str(tmp_path / 'p.png')]

    assert bench.main(argv + ['--time-budget', '0']) == 0   # starts nothing
    assert calls == [] and 'pending' in (tmp_path / 's.md').read_text()

    def n_rows():
        with open(energies, newline='') as f:
            return list(csv.DictReader(f))

    bench.main(argv)
    assert sorted(calls) == ['pbe', 'pbe', 'svwn', 'svwn']
    first = n_rows()
    assert len(first) == 4 and [r['system'] for r in first] == ['H', 'H', 'H2', 'H2']  # atoms first
    assert all(r['converged'] == 'True' and r['ladder_step'] == '1' for r in first)

    bench.main(argv)
    assert len(calls) == 4                      # nothing recomputed
    assert n_rows() == first                    # nothing appended
    md = (tmp_path / 's.md').read_text()
    assert 'g2_atomization.py --molecules H2' in md and 'density fitting: off' in md
    assert '| 1/1 | 0 | 0 | 0 |' in md and 'No SCF failed.' in md
    with open(tmp_path / 's_errors.csv', newline='') as f:
        (err,) = list(csv.DictReader(f))
    e = {(r['functional'], r['system']): float(r['e_tot']) for r in first}
    for xc in ('pbe', 'svwn'):
        ae = 627.509474 * (2 * e[(xc, 'H')] - e[(xc, 'H2')])
        assert abs(float(err[xc]) - (ae - g2.atomization_energy('H2'))) < 1e-3
    assert (tmp_path / 'p.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_common_subset_compares_like_with_like(bench):
    '''A molecule without an AE for one functional leaves the common-subset statistics of all.'''
    def rec(xc, mol, err, status='ok'):
        return {'functional': xc, 'molecule': mol, 'subset': g2.subset_of(mol), 'de_exp': 0.0,
                'ae': None, 'error': err if status == 'ok' else None, 'status': status,
                'failed': []}
    records = [rec('a', 'H2O', 1.0), rec('b', 'H2O', -3.0),
               rec('a', 'NH3', 10.0), rec('b', 'NH3', None, 'pending')]
    common, summary = bench.common_subset(records, ['a', 'b'])
    assert common == ['H2O']
    assert summary['a']['all']['mae'] == 1.0 and summary['b']['all']['mae'] == 3.0
    assert bench.summarise(records, ['a', 'b'])['a']['all']['mae'] == 5.5


def test_cache_key_includes_the_weight_file(bench, h_atom, runs, tmp_path):
    '''An energy cached for one weight file is never reused for another (retrained weights
    are recomputed); the fingerprint survives the CSV round trip.'''
    r = _row(bench, runs['H'], 'H', 'atom', h_atom, xc='nn-metagga')
    old, new = dict(r, weights='aaaaaaaaaaaa'), dict(r, weights='bbbbbbbbbbbb')
    assert bench.row_key(old) != bench.row_key(new)
    assert bench.weights_fingerprint('pbe') == ''
    fp = bench.weights_fingerprint('nn-metagga')
    assert len(fp) == 12

    path = str(tmp_path / 'rows.csv')
    bench.append_row(path, old)
    (back,) = bench.load_rows(path)
    assert back['weights'] == 'aaaaaaaaaaaa' and back['e_tot'] == pytest.approx(r['e_tot'],
                                                                                 abs=1e-12)
    assert bench.row_key(back) == bench.row_key(old) != bench.row_key(dict(r, weights=fp))


def test_weights_option_evaluates_another_file(bench, tmp_path, monkeypatch):
    '''--weights NAME=FILE makes NAME use FILE for that run: its energy, cache key and summary
    follow the file, the shipped entry comes back afterwards, and a bad spec or file stops the
    run instead of falling back to the shipped weights.'''
    from pyscf_ml.modelcard import sha256_of
    from pyscf_ml.xc import registry
    from pyscf_ml.xc.weights_io import load_state_dict, save_state_dict
    shipped = registry.lookup('nn-gga')
    state = load_state_dict(shipped.weights_path, 'nn-gga')
    state['fc4.bias'] = state['fc4.bias'] + 0.05      # a different network output
    path = tmp_path / 'mine.pt'
    save_state_dict(str(path), 'nn-gga', state)
    energies = {}
    run_scf = bench.run_scf

    def recording(mol, xc, **kwargs):
        res = run_scf(mol, xc, **kwargs)
        energies[registry.lookup(xc).weights_path] = res['e_tot']
        return res
    monkeypatch.setattr(bench, 'run_scf', recording)
    argv = ['--molecules', 'H2', '--basis', 'sto-3g', '--functionals', 'nn-gga',
            '--no-density-fit', '--csv', str(tmp_path / 'e.csv'),
            '--summary', str(tmp_path / 's.md'), '--png', str(tmp_path / 'p.png')]
    assert bench.main(argv + ['--weights', f'NN-GGA={path}']) == 0
    assert registry.lookup('nn-gga') is shipped                   # restored
    fp = sha256_of(str(path))[:12]
    rows = bench.load_rows(str(tmp_path / 'e.csv'))
    assert {r['weights'] for r in rows} == {fp} and len(rows) == 2      # H and H2
    assert f'`{path}` sha256 {fp}' in (tmp_path / 's.md').read_text()
    bench.main(argv)                                              # the shipped file: new rows
    assert {r['weights'] for r in bench.load_rows(str(tmp_path / 'e.csv'))} == \
        {fp, sha256_of(shipped.weights_path)[:12]}
    assert abs(energies[str(path)] - energies[shipped.weights_path]) > 1e-4

    def never(*args):
        raise AssertionError('main() ran with bad --weights')
    monkeypatch.setattr(bench, '_run', never)
    results = os.path.join(HERE, '..', 'benchmarks', 'results')
    ok = ['--weights', f'nn-gga={path}']
    for extra, match in (
            (['--weights', 'nn-gga'], 'expected NAME=FILE'),
            (['--weights', f'pbe={path}'], 'expected NAME=FILE'),
            (ok + ['--weights', f'nn-gga={tmp_path / "missing.pt"}'], 'not found'),
            (ok + ['--weights', f'nn-gga={path}', '--weights', 'nn-gga'], 'NAME=FILE'),
            (['--weights', f'nn-lsda={shipped.weights_path.replace("gga", "lsda")}'],
             'not in --functionals'),
            (ok + ['--summary', os.path.join(results, 'g2_atomization.md')], 'of their own'),
            (ok + ['--png', os.path.join(results, 'g2_atomization_all.png')], 'of their own'),
            (ok + ['--csv', os.path.join(results, 'g2_atomization.csv')], 'of their own')):
        with pytest.raises(SystemExit, match=match):
            bench.main(argv + extra)
        assert registry.lookup('nn-gga') is shipped
