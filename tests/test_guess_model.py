'''Symmetries of the Hamiltonian model (pyscf_ml.guess.model), in float64:
rotation + translation -> D F D^T, atom permutation -> permuted blocks, F = F^T, batching.'''
import contextlib

import numpy as np
import pytest
import torch
from pyscf import gto
from scipy.spatial.transform import Rotation

from pyscf_ml.guess import model as model_module
from pyscf_ml.guess.ao_order import ao_rotation
from pyscf_ml.guess.model import HamiltonianModel, build_model

SHELLS = {1: [0, 0, 1], 6: [0, 0, 0, 1, 1, 2], 8: [0, 0, 0, 1, 1, 2]}
# methanol-like, no symmetry
ATOMS = [('C', (0.0, 0.0, 0.0)), ('O', (1.43, 0.05, -0.02)), ('H', (1.75, 0.905, 0.1)),
         ('H', (-0.36, -1.03, 0.05)), ('H', (-0.3, 0.51, 0.89)), ('H', (-0.4, 0.5, -0.87))]


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(1)
    m = HamiltonianModel(SHELLS, mul=4, num_layers=2).double()
    with torch.no_grad():     # random, non-trivial weights: all paths contribute
        for p in m.parameters():
            p.add_(0.3 * torch.randn_like(p))
    # the on-site reference is fitted from data and must come out rotation invariant
    rng = np.random.default_rng(0)
    mol = _mol(ATOMS)
    a = rng.standard_normal((mol.nao, mol.nao))
    m.fit_site_reference([dict(Z=mol.atom_charges(), fock=a + a.T)])
    assert np.abs(m.site_ref.numpy()).max() > 0.1
    return m


def _mol(atoms):
    return gto.M(atom=atoms, basis='def2-svp', verbose=0)


def _fock(model, mol, pos=None):
    z = torch.as_tensor(mol.atom_charges())
    pos = torch.as_tensor(mol.atom_coords() if pos is None else pos)
    return model.fock(z, pos)[0].detach().numpy()


def test_output_symmetric_and_sized(model):
    mol = _mol(ATOMS)
    f = _fock(model, mol)
    assert f.shape == (mol.nao, mol.nao)
    assert np.abs(f).max() > 1e-2
    assert np.abs(f - f.T).max() == 0


@pytest.mark.parametrize('seed', [0, 1])
def test_rotation_translation_equivariance(model, seed):
    mol = _mol(ATOMS)
    rot = Rotation.random(random_state=seed).as_matrix()
    pos = mol.atom_coords() @ rot.T + np.array([1.5, -0.3, 4.0])
    f, f_rot = _fock(model, mol), _fock(model, mol, pos)
    d = ao_rotation(mol, rot)
    assert np.abs(f_rot - f).max() > 1e-3            # rotation changes the matrix ...
    assert np.abs(d @ f @ d.T - f_rot).max() < 1e-10  # ... exactly as the AOs rotate


def test_atom_permutation_permutes_blocks(model):
    mol = _mol(ATOMS)
    perm = [3, 1, 5, 0, 2, 4]
    mol_p = _mol([ATOMS[i] for i in perm])
    sl = mol.aoslice_by_atom()
    idx = np.concatenate([np.arange(sl[i, 2], sl[i, 3]) for i in perm])
    assert np.abs(_fock(model, mol)[np.ix_(idx, idx)] - _fock(model, mol_p)).max() < 1e-12


def test_batch_equals_single(model):
    mol_a, mol_b = _mol(ATOMS), _mol('O 0 0 0.12; H 0 0.76 -0.47; H 0 -0.76 -0.47')
    z = torch.as_tensor(np.concatenate([mol_a.atom_charges(), mol_b.atom_charges()]))
    pos = torch.as_tensor(np.concatenate([mol_a.atom_coords(), mol_b.atom_coords() + 0.5]))
    mol_index = torch.as_tensor([0] * mol_a.natm + [1] * mol_b.natm)
    fa, fb = [f.detach().numpy() for f in model.fock(z, pos, mol_index)]
    assert np.abs(fa - _fock(model, mol_a)).max() < 1e-12
    # atoms of different molecules do not interact, however close they are
    assert np.abs(fb - _fock(model, mol_b)).max() < 1e-12


def test_heads_in_one_call_equal_each_head_alone(model):
    '''The per-element and per-element-pair readouts run as one call with per-row weights;
    each row must get exactly what its own head gives it.'''
    rng = torch.Generator().manual_seed(3)
    for heads in (model.head_site, model.head_pair):
        assert all(h.bias.abs().min() > 0 for h in heads)   # the fixture perturbed the biases
        x = torch.randn(2 * len(heads) + 1, model.irreps_pair.dim, generator=rng,
                        dtype=torch.float64)
        kind = torch.arange(len(x)) % len(heads)
        got = model._heads(heads, x, kind)
        want = torch.stack([heads[int(k)](row) for row, k in zip(x, kind)])
        want = want @ model.cg.T * model.out_scale
        assert torch.allclose(got, want, atol=1e-12, rtol=0)
        assert got.abs().max() > 1e-2          # the heads' weights are not zero here


def test_unknown_element_raises(model):
    with pytest.raises(ValueError, match='element'):
        model(torch.as_tensor([7, 1]), torch.zeros(2, 3, dtype=torch.float64) + torch.eye(3)[:2])


def test_config_roundtrip(model):
    clone = build_model(model.config).double()
    clone.load_state_dict(model.state_dict())
    mol = _mol(ATOMS)
    assert np.abs(_fock(clone, mol) - _fock(model, mol)).max() == 0


def _batch_input():
    '''Two molecules in one batch, and a lone atom (no edges) as a third.'''
    mols = [_mol(ATOMS), _mol('O 0 0 0.12; H 0 0.76 -0.47; H 0 -0.76 -0.47'), _mol('O 0 0 0')]
    z = torch.as_tensor(np.concatenate([m.atom_charges() for m in mols]))
    pos = torch.as_tensor(np.concatenate([m.atom_coords() + 30 * k for k, m in enumerate(mols)]))
    mol_index = torch.as_tensor([k for k, m in enumerate(mols) for _ in range(m.natm)])
    return z, pos, mol_index


def test_training_build_is_the_same_function(model):
    '''The trainer builds with e3nn's contraction-order optimisation; the weights it writes are
    served by the plain build, so both must compute the same matrices (batched, with a lone
    atom too) and the same gradient.'''
    fast = model_module.rebuilt(model, optimize_einsums=True).double()
    # the flag reaches e3nn: the two builds run different generated code (a private e3nn
    # attribute; if an e3nn upgrade renames it, this line must follow)
    assert fast.tp_pair._optimize_einsums and not model.tp_pair._optimize_einsums
    z, pos, mol_index = _batch_input()
    want = [f.detach() for f in model.fock(z, pos, mol_index)]
    got = [f.detach() for f in fast.fock(z, pos, mol_index)]
    for g, w in zip(got, want):
        assert (g - w).abs().max() < 1e-12 * w.abs().max()
    grads = []
    for m in (model, fast):
        m.zero_grad()
        sum((f ** 2).sum() for f in m.fock(z, pos, mol_index)).backward()
        grads.append(torch.cat([p.grad.flatten() for p in m.parameters()]))
        m.zero_grad()
    assert (grads[1] - grads[0]).abs().max() < 1e-12 * grads[0].abs().max()


@pytest.mark.parametrize('default', [True, False])
def test_build_restores_the_e3nn_setting(default):
    '''Either build leaves e3nn's global optimisation setting as it found it, also when the
    build fails.'''
    import e3nn
    old = e3nn.get_optimization_defaults()['optimize_einsums']
    try:
        e3nn.set_optimization_defaults(optimize_einsums=default)
        for optimize in (True, False):
            HamiltonianModel({1: [0]}, mul=2, num_layers=1, optimize_einsums=optimize)
            assert e3nn.get_optimization_defaults()['optimize_einsums'] == default
            with pytest.raises(ValueError):
                with model_module._building(optimize):
                    raise ValueError('inside the build')
            assert e3nn.get_optimization_defaults()['optimize_einsums'] == default
    finally:
        e3nn.set_optimization_defaults(optimize_einsums=old)


@pytest.mark.parametrize('enabled', [True, False])
def test_forward_leaves_the_einsum_setting_alone(model, enabled, monkeypatch):
    '''The forward pass switches off torch's einsum path search for itself only (it costs more
    than e3nn's small contractions): the user's setting is restored, and the result is the same
    as with the path search on, to rounding.'''
    mol = _mol(ATOMS)
    strategy = 'greedy' if enabled else None    # a user's non-default strategy survives too
    with torch.backends.opt_einsum.flags(enabled=enabled, strategy=strategy):
        f = _fock(model, mol)
        assert torch.backends.opt_einsum.enabled == enabled
        if enabled:
            assert torch.backends.opt_einsum.strategy == 'greedy'
    # the path-searched reference: the same forward pass with the switch made a no-op
    monkeypatch.setattr(model_module, '_no_einsum_path_search', contextlib.nullcontext)
    with torch.backends.opt_einsum.flags(enabled=True):
        ref = _fock(model, mol)
    assert np.abs(f - ref).max() < 1e-12
