'''Bad input gives a clear error, never a silent wrong number.'''

import pytest
import torch
from pyscf import dft, gto

import pyscf_ml.xc as nnxc
from pyscf_ml.modelcard import WeightFileError
from pyscf_ml.weights import path as weights_path


@pytest.fixture
def mol():
    return gto.M(atom='H 0 0 0; F 0 0 0.92', basis='6-31g', verbose=0)


def test_unknown_nn_name_lists_registered(mol):
    mf = dft.RKS(mol, xc='nn-foo')
    with pytest.raises(KeyError) as err:
        mf.kernel()
    for name in ('nn-lsda', 'nn-gga', 'nn-metagga', 'nn-nra'):
        assert name in str(err.value)


@pytest.mark.parametrize('xc', ['nn-gga, pbe', 'nn-gga,', '0.5*nn-gga + 0.5*b3lyp',
                                'pbe + NN-GGA', 'b88, nn-gga'])
def test_learned_name_in_a_compound_string_is_named(mol, xc):
    '''PySCF's parser cannot evaluate a learned name inside a compound string: the error says
    the learned functional must be used alone (not "unknown", not PySCF's "name 'NN' not
    found"), and names PySCF knows still resolve as before.'''
    mf = dft.RKS(mol, xc=xc)
    with pytest.raises(KeyError, match="use one alone.*'nn-gga'"):
        mf.kernel()


def test_names_pyscf_parses_as_parts_cannot_be_registered():
    ''''b86' is no libxc name on its own, but PySCF evaluates 'b86, pbe' (B86 exchange): such a
    name cannot be registered, so no compound string PySCF can evaluate is ever refused.'''
    assert dft.libxc.xc_type('b86, pbe') == 'GGA'
    try:
        with pytest.raises(ValueError, match='PySCF knows'):
            nnxc.register('b86', 'nn-gga', weights_path('nn_gga.pt'))
    finally:
        nnxc.unregister('b86')
    assert dft.libxc.xc_type('b86, pbe') == 'GGA'
    assert dft.libxc.xc_type('0.5*b88 + 0.5*hf, lyp') == 'GGA'


def test_missing_weight_file_named(tmp_path):
    missing = str(tmp_path / 'nowhere.pt')
    with pytest.raises(WeightFileError, match='nowhere.pt'):
        nnxc.register('x-missing', 'nn-gga', missing)


def test_corrupt_weight_file_named(tmp_path):
    bad = tmp_path / 'corrupt.pt'
    bad.write_bytes(open(weights_path('nn_gga.pt'), 'rb').read()[:500])
    with pytest.raises(WeightFileError, match='corrupt.pt'):
        nnxc.register('x-corrupt', 'nn-gga', str(bad))


def test_weights_of_the_wrong_form_named(tmp_path):
    with pytest.raises(WeightFileError, match='nn_gga.pt'):
        nnxc.register('x-wrong', 'nn-metagga', weights_path('nn_gga.pt'))


def test_card_mismatch_named(tmp_path):
    '''A shipped-style file whose bytes changed after its card was written.'''
    import shutil
    shutil.copy(weights_path('nn_gga.json'), tmp_path / 'nn_gga.json')
    state = torch.load(weights_path('nn_gga.pt'), weights_only=True)
    state['state_dict']['fc4.bias'] += 1.0
    torch.save(state, tmp_path / 'nn_gga.pt')
    with pytest.raises(WeightFileError, match='sha256'):
        nnxc.register('x-tampered', 'nn-gga', str(tmp_path / 'nn_gga.pt'))


@pytest.mark.parametrize('form', ['nn-gga', 'nn-nra'])   # local path, and the whole-grid one
def test_nan_from_network_stops_with_region(mol, form):
    fn = nnxc.register('x-nan', form, weights_path(form.replace('-', '_') + '.pt'))
    try:
        net = fn.net()
        # make the network return NaN for inputs with high density (first feature large)
        net.fc1.weight.data[0, 0] = float('inf')
        mf = dft.RKS(mol, xc='x-nan')
        with pytest.raises(nnxc.NonFiniteXCError, match='density region'):
            mf.kernel()
    finally:
        nnxc.unregister('x-nan')


def test_nra_has_no_second_derivatives(mol):
    mf = dft.RKS(mol, xc='nn-nra').newton()
    mf.grids.level = 0
    with pytest.raises(NotImplementedError, match='nn-nra supports XC derivatives up to order 1'):
        mf.kernel()


def test_nra_hessian_is_refused_by_name(mol):
    '''PySCF's Hessian evaluates XC point by point, which the nonlocal form cannot do.'''
    mf = dft.RKS(mol, xc='nn-nra')
    mf.grids.level = 0
    mf.kernel()
    with pytest.raises(NotImplementedError, match='nn-nra is nonlocal.*Hessian'):
        mf.Hessian().kernel()
