'''Data and training commands end to end on H2: conformers, labels, splits, resumable training,
weights + card that the init-guess key can load.'''
import io
import json
import os

import numpy as np
import pytest
import torch
from pyscf import dft, gto

import pyscf_ml.guess  # noqa: F401  (installs the init_guess key)
from pyscf_ml.data import phisnet as data_cli
from pyscf_ml.guess.predict import load_model
from pyscf_ml.modelcard import sha256_of
from pyscf_ml.train import phisnet as train_cli


@pytest.fixture(scope='module')
def h2_data(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('d') / 'h2.pt')
    args = ['--molecule', 'h2', '--n-conf', '4', '--n-val', '1', '--n-test', '1', '--out', out]
    assert data_cli.main(args) == 0
    assert data_cli.main(args) == 0                    # rerun: resumes, adds nothing
    return out


def test_data_labels_are_converged_fock_matrices(h2_data):
    state = torch.load(h2_data, weights_only=False)
    samples = state['samples']
    assert len(samples) == 4
    assert sorted(s['split'] for s in samples) == ['test', 'train', 'train', 'val']
    bonds = [np.linalg.norm(s['pos'][0] - s['pos'][1]) for s in samples]
    assert np.std(bonds) > 1e-3 and all(1.2 < b < 1.7 for b in bonds)   # Bohr, thermal spread
    s = samples[0]
    mol = gto.M(atom=list(zip(s['Z'].tolist(), s['pos'].tolist())), unit='Bohr',
                basis='def2-svp', verbose=0)
    mf = dft.RKS(mol, xc='pbe')
    mf.conv_tol = 1e-10
    mf.kernel()
    assert np.abs(mf.get_fock() - s['fock']).max() < 1e-5
    # a converged Fock matrix commutes with the density: F D S = S D F
    dm, ovlp = mf.make_rdm1(), mol.intor('int1e_ovlp')
    assert np.abs(s['fock'] @ dm @ ovlp - ovlp @ dm @ s['fock']).max() < 1e-5


# G2/97 names of the built-in molecules (the same molecule must not enter twice)
G2_ALIASES = {'H2': 'h2', 'CH4': 'methane', 'NH3': 'ammonia', 'H2O': 'water', 'HCN': 'hcn',
              'CO': 'co', 'N2': 'n2', 'CO2': 'co2', 'H2CO': 'formaldehyde', 'CH3OH': 'methanol',
              'C2H2': 'acetylene', 'C2H4': 'ethylene', 'C2H6': 'ethane', 'HCOOH': 'formic_acid',
              'H2O2': 'hydrogen_peroxide', 'N2H4': 'hydrazine', 'CH3CN': 'acetonitrile',
              'H3CNH2': 'methylamine', 'CH3CHO': 'acetaldehyde', 'CH3CH2OH': 'ethanol'}


def test_g2_molecules_for_the_transferable_model(tmp_path):
    pytest.importorskip('ase')
    train = data_cli._names('g2-hcno')
    val = data_cli._names('g2-hcno-val')
    assert len(train) == 35 and len(val) == 4 and not set(train) & set(val)
    g2names = {n[len(data_cli.G2_PREFIX):] for n in train + val}
    # no built-in molecule comes back under its G2 name: neither a training molecule twice,
    # nor a held-out one (methylamine, acetaldehyde) or ethanol (its own model's test set)
    assert set(G2_ALIASES.values()) <= set(data_cli.GEOMETRIES)
    assert not g2names & set(G2_ALIASES)
    # the alias map is complete: a built-in without an alias shares its formula with no G2
    # molecule of the sets (a missed alias would let the same molecule in twice)
    formula = lambda atom: tuple(sorted(gto.M(atom=atom, verbose=0).elements))  # noqa: E731
    g2_formulas = {formula(data_cli.geometry('g2:' + n)) for n in g2names}
    for b in set(data_cli.GEOMETRIES) - set(G2_ALIASES.values()):
        assert formula(data_cli.GEOMETRIES[b]) not in g2_formulas, b
    for n in g2names:
        mol = gto.M(atom=data_cli.geometry('g2:' + n), basis='def2-svp', verbose=0)
        assert set(mol.elements) <= {'H', 'C', 'N', 'O'}
        # Angstrom read as Angstrom: nearest neighbours are bonded (0.9-1.6 A)
        x = mol.atom_coords(unit='Angstrom')
        d = np.linalg.norm(x[:, None] - x[None], axis=-1)
        d = (d + np.eye(mol.natm) * 1e9).min(axis=1)
        assert np.all((d > 0.9) & (d < 1.6)), (n, d)
    for bad, why in [('g2:CH3', 'closed-shell'), ('g2:SiH4', 'closed-shell'),
                     ('g2:H', 'not a molecule'), ('g2:no-such', 'not a molecule'),
                     ('nonsense', 'unknown')]:
        with pytest.raises(ValueError, match=why):
            data_cli.geometry(bad)
    out = str(tmp_path / 'v.pt')
    with pytest.raises(SystemExit, match='validation molecules'):
        data_cli.main(['--molecule', 'g2-hcno-val', '--n-conf', '2', '--n-val', '1',
                       '--out', out])
    with pytest.raises(SystemExit, match='validation molecules'):
        data_cli.main(['--molecule', 'g2-hcno-val', '--n-conf', '3', '--n-val', '3',
                       '--n-test', '1', '--out', out])
    # end to end: a G2 molecule through relaxation, sampling and labels
    assert data_cli.main(['--molecule', 'g2:NCCN', '--n-conf', '2', '--n-val', '1',
                          '--out', out]) == 0
    samples = torch.load(out, weights_only=False)['samples']
    assert [s['split'] for s in samples] in (['train', 'val'], ['val', 'train'])
    assert all(sorted(s['Z'].tolist()) == [6, 6, 7, 7] for s in samples)


def test_ase_molecules_for_the_transferable_model():
    pytest.importorskip('ase')
    from pyscf_ml.data import ase_extra, g2
    names = data_cli._names('ase-hcno')
    assert len(names) == 9 and len(set(names)) == 9
    formula = lambda atom: tuple(sorted(gto.M(atom=atom, verbose=0).elements))  # noqa: E731
    # new chemistry only: no formula of a built-in molecule (held-out formamide, the
    # per-molecule models' uracil, ...) or of any closed-shell H/C/N/O molecule of G2/97
    known = {formula(a) for a in data_cli.GEOMETRIES.values()}
    known |= {tuple(sorted(g2.composition_order(n))) for n in g2.molecule_names('all')}
    seen = set()
    for n in names:
        atom = data_cli.geometry(n)
        f = formula(atom)
        assert f not in known and f not in seen, n
        seen.add(f)
        mol = gto.M(atom=atom, basis='def2-svp', verbose=0)   # builds: closed shell
        assert set(mol.elements) <= {'H', 'C', 'N', 'O'} and mol.natm >= 10
        x = mol.atom_coords(unit='Angstrom')
        dist = np.linalg.norm(x[:, None] - x[None], axis=-1)
        d = (dist + np.eye(mol.natm) * 1e9).min(axis=1)
        assert np.all((d > 0.9) & (d < 1.6)), (n, d)
        # one molecule, not two fragments of a complex: the 1.6 A bond graph is connected
        assert (np.linalg.matrix_power((dist < 1.6).astype(int), len(x)) > 0).all(), n
    for bad in ('ase:formamide', 'ase:uracil', 'ase:no-such'):
        with pytest.raises(ValueError, match='not one of the ase molecules'):
            data_cli.geometry(bad)
    assert ase_extra.NAMES == sorted(ase_extra.S22_MONOMERS) + sorted(ase_extra.EXTRA_MOLECULES)


def test_train_without_validation_split_says_so(tmp_path, capsys):
    '''No val conformers: the epoch is chosen by the training loss and the card carries no
    "validation" error (before, the training loss was written as val_fock_mae_uHa).'''
    data = str(tmp_path / 'h2_noval.pt')
    assert data_cli.main(['--molecule', 'h2', '--n-conf', '3', '--n-test', '1',
                          '--out', data]) == 0
    w = str(tmp_path / 'noval.pt')
    assert train_cli.main(['--data', data, '--out', str(tmp_path / 'run'), '--mul', '4',
                           '--layers', '1', '--epochs', '2', '--weights', w]) == 0
    assert 'no validation conformers' in capsys.readouterr().err
    metrics = json.load(open(w[:-3] + '.json'))['metrics']
    assert 'val_fock_mae_uHa' not in metrics
    assert metrics['selected_by'].startswith('mean training loss')
    assert 'test_fock_mae_uHa' in metrics


def test_train_resume_and_serve(h2_data, tmp_path):
    run = str(tmp_path / 'run')
    w = str(tmp_path / 'phisnet_h2.pt')
    common = ['--data', h2_data, '--out', run, '--mul', '4', '--layers', '1']
    assert train_cli.main(common + ['--epochs', '2']) == 0
    assert torch.load(os.path.join(run, 'checkpoint.pt'), weights_only=False)['epoch'] == 2
    assert train_cli.main(common + ['--epochs', '3', '--resume', '--weights', w]) == 0
    log = open(os.path.join(run, 'train.log')).read().splitlines()
    assert [line.split()[0] for line in log] == ['[1/2]', '[2/2]', '[3/3]']
    card = json.load(open(w[:-3] + '.json'))
    assert card['training_data']['test'] == {'h2': 1}
    # the data command rebuilt from the settings stored in the data file
    (cmd,) = card['data_commands']
    assert cmd.startswith('python -m pyscf_ml.data phisnet --molecule h2 ')
    assert cmd.endswith(f'--out {h2_data}')
    assert 'test_fock_mae_uHa' in card['metrics'] and '--resume' in card['training_command']
    mol = gto.M(atom='H 0 0 0; H 0 0 0.75', basis='sto-3g', verbose=0)
    mf = dft.RKS(mol)
    mf.stdout, mf.verbose = io.StringIO(), 4
    dm = mf.get_init_guess(key='phisnet:' + w)
    assert abs(np.einsum('ij,ji', dm, mf.get_ovlp()) - 2) < 1e-10
    # the trained file served the guess: no MINAO fallback (that would also hold 2 electrons)
    log = mf.stdout.getvalue()
    assert 'learned Hamiltonian model' in log and 'WARN' not in log
    # fine-tuning into the same file: the card names the starting weights by their hash
    sha0 = sha256_of(w)
    tune = str(tmp_path / 'tune')
    assert train_cli.main(['--data', h2_data, '--out', tune, '--epochs', '1', '--loss', 'l1',
                           '--init', w, '--weights', w]) == 0
    assert json.load(open(w[:-3] + '.json'))['init'] == {'file': w, 'sha256': sha0}
    assert sha256_of(w) != sha0
    # with --loss l1 the progress line reports the training MAE, not an RMSE
    with open(os.path.join(tune, 'train.log')) as f:
        assert f.read().split()[1].startswith('mae_uHa=')
    # a card without a near-dependence choice passes none on; one with a choice passes it to
    # the fine-tuned model's card, so the new file served by path gets the parent's treatment
    assert 'near_dependence' not in json.load(open(w[:-3] + '.json'))
    card = json.load(open(w[:-3] + '.json'))
    card['near_dependence'] = {'method': 'baseline', 'threshold': 0.01}
    json.dump(card, open(w[:-3] + '.json', 'w'))
    w2 = str(tmp_path / 'phisnet_h2_tuned.pt')
    assert train_cli.main(['--data', h2_data, '--out', str(tmp_path / 'tune2'), '--epochs', '1',
                           '--init', w, '--weights', w2]) == 0
    assert json.load(open(w2[:-3] + '.json'))['near_dependence'] == {
        'method': 'baseline', 'threshold': 0.01, 'inherited_from': w}
    served = load_model(w2)
    assert (served.lindep_method, served.lindep_threshold) == ('baseline', 0.01)


def test_l1_loss_is_the_mean_absolute_error():
    pred = [torch.tensor([[1., 2.], [2., 5.]]), torch.tensor([[0.]])]
    batch = [dict(fock=torch.tensor([[1.5, 2.], [2., 3.]])), dict(fock=torch.tensor([[-1.]]))]
    assert abs(train_cli.batch_loss(pred, batch, 0., 'l1').item() - (0.5 + 2 + 1) / 5) < 1e-7
    assert abs(train_cli.batch_loss(pred, batch, 0.).item() - (0.25 + 4 + 1) / 5) < 1e-7


def test_mo_loss_is_the_first_order_orbital_rotation():
    '''The occupied-virtual block of the --mo-loss matrix is the first-order orbital rotation a
    Fock error causes: rebuilding the density change from it matches exact diagonalisation.'''
    mol = gto.M(atom='O 0 0 0.12; H 0 0.76 -0.47; H 0 -0.76 -0.47', basis='def2-svp', verbose=0)
    f_ref = data_cli.fock_label(mol)[0]['fock']
    sample = dict(Z=mol.atom_charges(), pos=mol.atom_coords(), fock=f_ref, nocc=5)
    train_cli.add_mo_weights([sample])
    c, w = sample['mo_coeff'], sample['mo_weight']
    rng = np.random.default_rng(0)
    df = rng.normal(0, 3e-6, f_ref.shape)
    df = df + df.T
    m = (c.T @ df @ c) * w
    occ, vir = c[:, :5], c[:, 5:]
    kappa = m[5:, :5]                              # dF_ai / (e_a - e_i)
    dd_first = -2 * (vir @ kappa @ occ.T + occ @ kappa.T @ vir.T)
    s = mol.intor_symmetric('int1e_ovlp')

    def density(f):
        e, v = np.linalg.eigh(np.linalg.inv(np.linalg.cholesky(s)) @ f
                              @ np.linalg.inv(np.linalg.cholesky(s)).T)
        v = np.linalg.inv(np.linalg.cholesky(s)).T @ v[:, :5]
        return 2 * v @ v.T

    dd_exact = density(f_ref + df) - density(f_ref)
    assert np.abs(dd_exact).max() > 1e-6
    # second-order remainder: measured 1.8e-4 relative (6e-4 at noise 1e-5, as expected)
    assert np.abs(dd_first - dd_exact).max() < 1e-3 * np.abs(dd_exact).max()
    # and the loss term is sum_pq m_pq^2 / n_AO
    t = train_cli.to_tensors([dict(sample, name='w', target=f_ref, Z=list(mol.atom_charges()))],
                             torch.float64, 'cpu')
    pred = [t[0]['fock'] + torch.as_tensor(df)]
    extra = train_cli.batch_loss(pred, t, 1.0) - train_cli.batch_loss(pred, t, 0.0)
    assert abs(extra.item() - (m**2).sum() / len(m)) < 1e-12 * (m**2).sum()


def test_data_run_stopped_midway_keeps_finished_samples(tmp_path, monkeypatch):
    '''An exception inside the labelling loop (here an SCF that never converges on the third
    conformer) writes the finished samples before it propagates, even between the periodic
    saves; a rerun resumes from them.'''
    out = str(tmp_path / 'h2.pt')
    args = ['--molecule', 'h2', '--n-conf', '4', '--out', out]
    label = data_cli.fock_label
    calls = []

    def failing_third(mol, dm0=None):
        calls.append(1)
        return None if len(calls) >= 3 else label(mol, dm0=dm0)
    monkeypatch.setattr(data_cli, 'fock_label', failing_third)
    monkeypatch.setattr(data_cli, 'SAVE_EVERY_S', 1e9)      # no periodic save before the failure
    with pytest.raises(RuntimeError, match='conformer 2: SCF did not converge'):
        data_cli.main(args)
    assert [s['index'] for s in torch.load(out, weights_only=False)['samples']] == [0, 1]
    monkeypatch.setattr(data_cli, 'fock_label', label)
    assert data_cli.main(args) == 0
    assert len(torch.load(out, weights_only=False)['samples']) == 4


def test_unconverged_normal_mode_scf_is_reported(monkeypatch, capsys):
    '''The HF/3-21G SCF behind the sampling modes is checked: one that stops unconverged is
    named on stderr, not used silently.'''
    from pyscf import scf
    mol = gto.M(atom='O 0 0 0.12; H 0 0.76 -0.47; H 0 -0.76 -0.47', verbose=0)
    data_cli.normal_modes(mol, mol.atom_coords())
    assert 'did not converge' not in capsys.readouterr().err
    monkeypatch.setattr(scf.hf.SCF, 'max_cycle', 1)
    data_cli.normal_modes(mol, mol.atom_coords(), label='water')
    assert 'normal modes of water (3 atoms) did not converge' in capsys.readouterr().err
