'''Density inversion for the OF-DFT path data (pyscf_ml.data.ofdft_path).'''
import numpy as np
import pytest
import torch
from pyscf import dft, gto
from pyscf.df import incore

from pyscf_ml.data import ofdft as ks_data
from pyscf_ml.data import ofdft_path

XC = 'lda,vwn'


@pytest.fixture(scope='module')
def lih_in_potential():
    '''LiH KS ground state in a random potential, with its labels.'''
    rng = np.random.default_rng([7, 0, 0])
    mol = gto.M(atom='Li 0 0 0; H 0 0 1.6', basis='unc-cc-pvdz', verbose=0)
    v_rand, v_rand_fn = ks_data.random_potential(mol, rng, 0.1)
    h0 = mol.intor_symmetric('int1e_kin') + mol.intor_symmetric('int1e_nuc')
    mf = dft.RKS(mol, xc=XC)
    mf.get_hcore = lambda *a: h0 + v_rand
    mf.conv_tol = 1e-11
    mf.kernel()
    grids = dft.gen_grid.Grids(mol)
    grids.level = 2
    grids.build(with_non0tab=False)
    dm = mf.make_rdm1()
    v_s = ks_data.ks_potential_on_grid(mol, dm, XC, grids.coords, v_rand_fn(grids.coords))
    return mol, mf, h0, dm, grids, ks_data.labels(mol, dm, v_s, grids, 1e-8)


def test_wu_yang_recovers_density_and_labels_of_unknown_potential(lih_in_potential):
    '''Invert a KS density without knowing its random potential: the inverted density and
    its labels (T_s, T_P, projected Pauli derivative) must match the direct KS ones.'''
    mol, mf, h0, dm, grids, ref = lih_in_potential
    ni = dft.numint.NumInt()
    vxc = ni.nr_rks(mol, grids, XC, dm)[2]
    h_guide = h0 + mf.get_j(mol, dm) + vxc          # the random potential is left out
    pmol = gto.M(atom=mol._atom, unit='Bohr', verbose=0,
                 basis={e: ofdft_path.inversion_basis(e) for e in mol.elements})
    pot_ints = incore.aux_e2(mol, pmol, intor='int3c1e')
    b, dm_b, eps = ofdft_path.wu_yang(mol, dm, h_guide, pot_ints)
    drho = grids.weights @ np.abs(ni.get_rho(mol, dm_b - dm, grids))
    assert drho < 1e-4                                # measured 1.4e-5 e
    assert np.abs(b).max() > 0.01                     # it had to find one (max 0.053)
    v_b = dft.numint.eval_ao(pmol, grids.coords) @ b
    v_s = ks_data.ks_potential_on_grid(mol, dm, XC, grids.coords, v_b)
    inv = ks_data.labels(mol, dm_b, v_s, grids, 1e-8)
    # measured: T_s 1.7e-7, T_P 2.3e-6 Ha apart, derivative labels 8e-4 relative
    assert abs(inv['T_s'] - ref['T_s']) < 1e-5
    assert abs(inv['T_pauli'] - ref['T_pauli']) < 2e-5
    assert ref['T_pauli'] > 0.3
    rel = torch.linalg.norm(inv['dpauli'] - ref['dpauli']) / torch.linalg.norm(ref['dpauli'])
    assert rel < 0.01


def test_wu_yang_keeps_a_non_degenerate_ground_state(lih_in_potential):
    '''A target no single determinant reproduces (4 electrons in one nodeless orbital, what
    OF-DFT collapses to) gives the closest non-degenerate state, whose labels are exact.'''
    mol, mf, h0, dm, grids, _ = lih_in_potential
    ovlp = mol.intor_symmetric('int1e_ovlp')
    psi = mf.mo_coeff[:, 0] + 0.3 * mf.mo_coeff[:, 1]
    dm_t = mol.nelectron * np.outer(psi, psi) / (psi @ ovlp @ psi)
    ni = dft.numint.NumInt()
    h_guide = h0 + mf.get_j(mol, dm_t) + ni.nr_rks(mol, grids, XC, dm_t)[2]
    pmol = gto.M(atom=mol._atom, unit='Bohr', verbose=0,
                 basis={e: ofdft_path.inversion_basis(e) for e in mol.elements})
    pot_ints = incore.aux_e2(mol, pmol, intor='int3c1e')
    b, dm_b, eps = ofdft_path.wu_yang(mol, dm_t, h_guide, pot_ints, min_gap=0.01)
    nocc = mol.nelectron // 2
    assert eps[nocc] - eps[nocc - 1] >= 0.01       # min_gap=0 ends at a 6e-8 Ha gap
    # and it moved from the KS density towards the target (measured 2.98 -> 1.61 e)
    d0 = grids.weights @ np.abs(ni.get_rho(mol, dm - dm_t, grids))
    d1 = grids.weights @ np.abs(ni.get_rho(mol, dm_b - dm_t, grids))
    assert d1 < d0


def test_path_data_cli(tmp_path):
    '''End to end: LiH with the shipped KineticNet; every kept sample is an exact KS state.'''
    out = str(tmp_path / 'path.pt')
    assert ofdft_path.main(['--molecules', 'LiH', '--n-per-mol', '1', '--mix', '0.5,1',
                            '--basis', 'unc-6-31g', '--grid-level', '1', '--out', out]) == 0
    blob = torch.load(out, weights_only=False)
    assert blob['command'].startswith('python -m pyscf_ml.data ofdft-path')
    assert 1 <= len(blob['samples']) <= 2
    for s in blob['samples']:
        assert s['mix'] in (0.5, 1.0)
        assert abs(float((s['weights'] * s['rho']).sum()) - s['nelec']) < 1e-2
    assert 'LiH #0: t=0.5' in open(out + '.log').read()
    assert all('proj_grad' in s for s in blob['samples'])
    # --no-gradient-labels: the same states without the gradient labels
    lean = str(tmp_path / 'lean.pt')
    assert ofdft_path.main(['--molecules', 'LiH', '--n-per-mol', '1', '--mix', '1',
                            '--basis', 'unc-6-31g', '--grid-level', '1', '--out', lean,
                            '--no-gradient-labels']) == 0
    lean_samples = torch.load(lean, weights_only=False)['samples']
    assert lean_samples
    assert [s['T_pauli'] for s in lean_samples] == [s['T_pauli'] for s in blob['samples']
                                                    if s['mix'] == 1.0]
    assert not any('proj_grad' in s or 'grad_rho_sq' in s for s in lean_samples)
    # the trainer scales path samples' loss by (path_rel T_P / 10 mHa)^2 and reports them apart
    from pyscf_ml.modelcard import read_card
    from pyscf_ml.ofdft.kineticnet import KineticNet
    from pyscf_ml.train import kineticnet as train
    s = blob['samples'][0]
    model = KineticNet(species=(1, 3), n_radial=4, mul=2, hidden=4).double()
    plain = train.sample_loss(model, s, 0.1)[0].item()
    scale = max(1.0, 0.5 * s['T_pauli'] / train.E_SCALE)
    assert scale > 1
    assert abs(train.sample_loss(model, s, 0.1, 0.5)[0].item() - plain / scale**2) < 1e-9 * plain
    w = str(tmp_path / 'kn.pt')
    assert train.main(['--data', out, '--out', str(tmp_path / 'run'), '--weights', w,
                       '--epochs', '1', '--batch', '1', '--n-radial', '4', '--mul', '2',
                       '--hidden', '4', '--val-frac', '0.5', '--path-rel', '0.05']) == 0
    assert 'LiH path' in read_card(w[:-3] + '.json')['metrics']['validation']
    # --val: a fixed validation file (here one sample of the data, written apart); all of
    # --data trains; the same file in both, or a resume on another validation set, is refused
    val = str(tmp_path / 'val.pt')
    torch.save(dict(blob, samples=blob['samples'][:1]), val)
    args = ['--data', out, '--val', val, '--out', str(tmp_path / 'run2'), '--weights', w,
            '--epochs', '1', '--batch', '1', '--n-radial', '4', '--mul', '2', '--hidden', '4']
    assert train.main(args) == 0
    card = read_card(w[:-3] + '.json')
    assert (card['train_samples'], card['val_samples']) == (len(blob['samples']), 1)
    assert card['validation_data'] == {'files': [val], 'commands': [blob['command']]}
    with pytest.raises(SystemExit, match='also in --data'):
        train.main(args[:2] + ['--val', out] + args[4:])
    with pytest.raises(SystemExit, match='validated on'):
        train.main(args[:2] + args[4:] + ['--resume'])
    assert train.main(args + ['--resume']) == 0            # same set: resumes
    foreign = str(tmp_path / 'foreign.pt')                 # an element the model lacks
    torch.save(dict(blob, samples=[dict(s, z=torch.tensor([8, 1]))]), foreign)
    with pytest.raises(SystemExit, match='unsupported atomic numbers'):
        train.main(['--data', out, '--val', foreign, '--out', str(tmp_path / 'run3')]
                   + args[6:])
