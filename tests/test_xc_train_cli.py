'''The first-stage XC pipeline end to end on a tiny set: data, training with a checkpoint,
resume, and weights that register and run in an SCF.'''
import json
import os

import numpy as np
import pytest
import torch
from pyscf import dft, gto

import pyscf_ml.weights
import pyscf_ml.xc as nnxc
from pyscf_ml.data import xc_grid
from pyscf_ml.modelcard import sha256_of
from pyscf_ml.train import xc as train_xc
from pyscf_ml.train.progress import save_checkpoint
from pyscf_ml.train.xc import fold_standardisation
from pyscf_ml.xc.forms import NagaiMLP, SpinDensities, eps_xc


@pytest.fixture(scope='module')
def grid_data(tmp_path_factory):
    out = tmp_path_factory.mktemp('xc') / 'grid.npz'
    xc_grid.main(['--out', str(out), '--systems', 'LiH', 'H', '--grid-level', '0'])
    return out


def test_grid_data_holds_libxc_energies(grid_data):
    z = np.load(grid_data)
    w, e_pbe = z['LiH/weights'], z['LiH/e_pbe']
    mol = gto.M(atom='Li 0 0 0; H 0 0 1.5949', basis='def2-svp', verbose=0)
    mf = dft.UKS(mol, xc='pbe')
    mf.grids.level = 0
    mf.kernel()
    exc = mf._numint.nr_uks(mol, mf.grids, 'pbe', mf.make_rdm1())[1]
    assert abs(w @ e_pbe - exc) < 1e-6
    # the stored rest of the total energy completes E_xc to PySCF's PBE total energy
    assert abs(float(z['LiH/e_nonxc']) + w @ e_pbe - mf.e_tot) < 1e-6


def test_train_resume_and_register(grid_data, tmp_path):
    common = ['--form', 'nn-gga', '--data', str(grid_data), '--points', '2000',
              '--checkpoint', str(tmp_path / 'ck.pt'), '--checkpoint-every', '3']
    out = tmp_path / 'w.pt'
    train_xc.main(common + ['--steps', '3', '--out', str(out)])
    first = torch.load(tmp_path / 'ck.pt', weights_only=False)
    assert first['step'] == 3
    train_xc.main(common + ['--steps', '6', '--out', str(out), '--resume'])
    assert torch.load(tmp_path / 'ck.pt', weights_only=False)['step'] == 6
    card = json.load(open(tmp_path / 'w.json'))
    assert card['sha256'] == sha256_of(out)
    assert set(card['metrics']['exc_error_mHa']) == {'LiH', 'H'}
    fn = nnxc.register('tiny-gga', 'nn-gga', str(out))
    try:
        mol = gto.M(atom='H 0 0 0; H 0 0 0.7414', basis='6-31g', verbose=0)
        mf = dft.RKS(mol, xc='tiny-gga')
        mf.grids.level = 0
        assert np.isfinite(mf.kernel())
        assert fn.net().fc1.weight.dtype == torch.float64
    finally:
        nnxc.unregister('tiny-gga')


def test_resumed_run_records_the_first_starts_init(grid_data, tmp_path):
    '''--init is hashed when the run first starts and kept across --resume, even when the file
    has changed since (here: overwritten by the run's own output).'''
    base = ['--form', 'nn-gga', '--data', str(grid_data), '--points', '2000']
    start = tmp_path / 'start.pt'
    train_xc.main(base + ['--steps', '2', '--out', str(start)])
    first_hash = sha256_of(start)
    common = base + ['--init', str(start), '--checkpoint', str(tmp_path / 'ck.pt'),
                     '--checkpoint-every', '2', '--out', str(start)]
    train_xc.main(common + ['--steps', '2'])
    assert sha256_of(start) != first_hash
    train_xc.main(common + ['--steps', '4', '--resume'])
    card = json.load(open(tmp_path / 'start.json'))
    assert card['hyperparameters']['init'] == {'file': str(start), 'sha256': first_hash}


def test_fold_standardisation_is_exact():
    torch.manual_seed(0)
    net = NagaiMLP(3).double()
    mean, std = torch.tensor([-3.0, 0.1, 2.0]), torch.tensor([4.0, 0.2, 1.5])
    x = torch.randn(50, 3, dtype=torch.float64) * 3
    raw = fold_standardisation(net, mean.double(), std.double())
    assert torch.allclose(raw(x), net((x - mean) / std), rtol=1e-12, atol=1e-12)


def test_standardised_copy_inverts_fold_standardisation():
    torch.manual_seed(1)
    raw = NagaiMLP(3).double()
    mean = torch.tensor([-3.0, 0.1, 2.0], dtype=torch.float64)
    std = torch.tensor([4.0, 0.2, 1.5], dtype=torch.float64)
    std_net = train_xc.standardised_copy(raw.state_dict(), mean, std, torch.float64)
    x = torch.randn(50, 3, dtype=torch.float64) * 3
    assert torch.allclose(std_net((x - mean) / std), raw(x), rtol=1e-12, atol=1e-12)
    back = fold_standardisation(std_net, mean, std)
    for key, value in raw.state_dict().items():
        assert torch.allclose(back.state_dict()[key], value, rtol=1e-12, atol=1e-12)


def test_validation_mask_holds_out_every_nth():
    assert train_xc.validation_mask(7, 3).tolist() == [False, False, True, False, False,
                                                       True, False]
    assert not train_xc.validation_mask(7, 0).any()


def test_atomization_matrix_counts_atoms():
    names = ['H2O', 'OH', 'H', 'O', 'CH4']
    comps = {'H2O': {'H': 2, 'O': 1}, 'OH': {'H': 1, 'O': 1}, 'H': {'H': 1}, 'O': {'O': 1},
             'CH4': {'C': 1, 'H': 4}}
    M, molecules = train_xc.atomization_matrix(names, comps)
    assert molecules == ['H2O', 'OH']          # CH4 lacks its C atom in the data
    E = torch.tensor([-76.4, -75.7, -0.5, -75.0, -40.5], dtype=torch.float64)
    assert torch.allclose(M @ E, torch.tensor([2 * -0.5 - 75.0 + 76.4, -0.5 - 75.0 + 75.7],
                                              dtype=torch.float64))


@pytest.fixture(scope='module')
def grid_data_lih(tmp_path_factory):
    out = tmp_path_factory.mktemp('xc') / 'grid.npz'
    xc_grid.main(['--out', str(out), '--systems', 'LiH', 'Li', 'H', '--grid-level', '0'])
    return out


def test_ae_weighted_float32_training_reports_the_exc_part_of_the_ae(grid_data_lih, tmp_path):
    '''The card's exc_ae_error_kcal is E_xc^NN - E_xc^PBE of the atoms minus that of LiH on
    the stored PBE densities, computed here independently from the saved float64 weights.'''
    out = tmp_path / 'w.pt'
    train_xc.main(['--form', 'nn-gga', '--data', str(grid_data_lih), '--points', '3000',
                   '--steps', '5', '--ae-weight', '1e-5', '--precision', 'float32',
                   '--out', str(out)])
    card = json.load(open(tmp_path / 'w.json'))
    assert card['hyperparameters']['precision'] == 'float32'
    fn = nnxc.register('tiny-gga-ae', 'nn-gga', str(out))
    try:
        net = fn.net()
        dev = next(net.parameters()).device      # the inference device (CUDA when present)
        z = np.load(grid_data_lih)
        exc_err = {}
        for name in ('LiH', 'Li', 'H'):
            rho = torch.as_tensor(z[f'{name}/rho'], device=dev)
            d = SpinDensities.from_pyscf_rho(rho, 1)
            with torch.no_grad():
                e = eps_xc(net, 3, d) * (d.n_a + d.n_b)
            w = torch.as_tensor(z[f'{name}/weights'], device=dev)
            exc_err[name] = float(w @ e) - float(z[f'{name}/weights'] @ z[f'{name}/e_pbe'])
    finally:
        nnxc.unregister('tiny-gga-ae')
    expected = (exc_err['Li'] + exc_err['H'] - exc_err['LiH']) * 627.509474
    assert card['metrics']['exc_ae_error_kcal']['LiH'] == pytest.approx(expected, abs=2e-3)


def test_g2_grid_data_refuses_test_set_molecules():
    pytest.importorskip('ase')
    with pytest.raises(ValueError, match='G2-2'):
        xc_grid.build_mole('CH3CN', 'def2-svp', source='g2')


@pytest.fixture(scope='module')
def g2_grid_data_lih(tmp_path_factory):
    pytest.importorskip('ase')
    out = tmp_path_factory.mktemp('xc') / 'grid.npz'
    xc_grid.main(['--set', 'g2-1', '--out', str(out), '--systems', 'LiH', 'Li', 'H',
                  '--grid-level', '0'])
    return out


def test_experiment_target_reports_the_non_self_consistent_ae(g2_grid_data_lih, tmp_path):
    """Warm start from the shipped nn-gga with a gradient floor and a negligible step: the
    card's AE error against experiment must equal PySCF's total energies with the written
    weights at the stored PBE densities (atoms minus LiH) minus ase's experimental De,
    computed here independently.  This also checks that training and inference apply the
    same floor."""
    from pyscf_ml.data import g2
    out = tmp_path / 'w.pt'
    init = os.path.join(os.path.dirname(pyscf_ml.weights.__file__), 'nn_gga.pt')
    train_xc.main(['--form', 'nn-gga', '--data', str(g2_grid_data_lih), '--points', '3000',
                   '--steps', '1', '--lr', '1e-12', '--init', init, '--ae-weight', '1e-4',
                   '--ae-target', 'experiment', '--ae-validation-every', '0',
                   '--t2-floor', '1.0', '--out', str(out)])
    with open(tmp_path / 'w.json') as f:
        card = json.load(f)
    assert card['hyperparameters']['init']['sha256'] == sha256_of(init)
    assert card['hyperparameters']['t2_floor'] == 1.0
    fn = nnxc.register('tiny-floored-gga', 'nn-gga', str(out))
    assert float(fn.net().t2_floor) == 1.0
    energies = {}
    try:
        for name in ('LiH', 'Li', 'H'):
            mf = dft.UKS(g2.mole(name, 'def2-svp'), xc='pbe')
            mf.grids.level = 0
            mf.kernel()
            dm = mf.make_rdm1()
            mf.xc = 'tiny-floored-gga'
            energies[name] = mf.energy_tot(dm=dm)
    finally:
        nnxc.unregister('tiny-floored-gga')
    ae = (energies['Li'] + energies['H'] - energies['LiH']) * 627.509474
    expected = ae - g2.atomization_energy('LiH')
    assert card['metrics']['ae_vs_experiment_error_kcal']['LiH'] == pytest.approx(expected,
                                                                                  abs=0.02)
    assert card['metrics']['ae_vs_experiment_mae_kcal_fit'] == pytest.approx(abs(expected),
                                                                              abs=0.02)


def test_experiment_target_needs_the_non_xc_energies(grid_data_lih, tmp_path):
    z = dict(np.load(grid_data_lih))
    old = tmp_path / 'old.npz'
    np.savez(old, **{k: v for k, v in z.items() if not k.endswith('/e_nonxc')})
    with pytest.raises(SystemExit, match='e_nonxc'):
        train_xc.main(['--form', 'nn-gga', '--data', str(old), '--ae-weight', '1e-4',
                       '--ae-target', 'experiment', '--out', str(tmp_path / 'w.pt')])


@pytest.mark.parametrize('checkpoint_every', [3, 2])
def test_adaptive_resampling_resumes_exactly(grid_data, tmp_path, monkeypatch, checkpoint_every):
    '''Fresh samples every step and error-adapted sampling: a run killed after its first
    checkpoint and resumed gives the same weights as one uninterrupted run.  Step 3 resumes
    with the checkpoint's anchor; step 2 (a multiple of --adapt-every) with a new one.'''
    common = ['--form', 'nn-gga', '--data', str(grid_data), '--points', '1500', '--resample',
              '--adapt-every', '2', '--checkpoint-every', str(checkpoint_every), '--steps', '5']
    train_xc.main(common + ['--out', str(tmp_path / 'a.pt'), '--checkpoint',
                            str(tmp_path / 'a.ck')])

    def save_then_die(path, **state):
        save_checkpoint(path, **state)
        raise KeyboardInterrupt

    monkeypatch.setattr(train_xc, 'save_checkpoint', save_then_die)
    resumed = common + ['--out', str(tmp_path / 'b.pt'), '--checkpoint', str(tmp_path / 'b.ck'),
                        '--resume']
    with pytest.raises(KeyboardInterrupt):
        train_xc.main(resumed)
    assert torch.load(tmp_path / 'b.ck', weights_only=False)['step'] == checkpoint_every
    monkeypatch.setattr(train_xc, 'save_checkpoint', save_checkpoint)
    train_xc.main(resumed)
    a = torch.load(tmp_path / 'a.pt', weights_only=True)['state_dict']
    b = torch.load(tmp_path / 'b.pt', weights_only=True)['state_dict']
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_resampled_quadrature_is_unbiased(grid_data):
    '''Averaged over draws, the importance-weighted sums (error-adapted probabilities
    included) reproduce every system's full-grid E_xc within 4 standard errors.'''
    data = train_xc.GridData(str(grid_data), 'nn-gga', 'pbe')
    exact = data.system_energies(data.e_ref)
    e_net = data.e_ref * (1 + 0.05 * torch.sin(torch.arange(len(data.w), dtype=torch.float64)))
    for p in (train_xc.importance_probabilities(data),
              train_xc.importance_probabilities(data, e_net)):
        assert float(p.sum()) == pytest.approx(1.0, abs=1e-12) and (p > 0).all()
        draws = [train_xc.importance_resample(p, 4000, seed) for seed in range(300)]
        estimates = torch.stack([train_xc.per_system(data.system[i], data.w[i] * iw,
                                                     data.e_ref[i], 2) for i, iw in draws])
        stderr = estimates.std(0) / len(draws) ** 0.5
        assert (stderr < 5e-3 * exact.abs()).all()          # the check has power
        assert ((estimates.mean(0) - exact).abs() < 4 * stderr).all()
