'''The nn-* names behave like libxc names across PySCF, and leave PySCF's own names alone.'''
import json
import subprocess
import sys

import numpy as np
import pytest
from pyscf import dft, gto

import pyscf_ml.xc as nnxc
from pyscf_ml.weights import path as weights_path

WATER = 'O 0 0 0.1173; H 0 0.7572 -0.4692; H 0 -0.7572 -0.4692'


@pytest.fixture(scope='module')
def water():
    return gto.M(atom=WATER, basis='6-31g', verbose=0)


def _energy(mf):
    mf.grids.level = 1
    mf.conv_tol = 1e-10
    e = mf.kernel()
    assert mf.converged
    return e


def test_constructor_and_attribute_and_case_agree(water):
    e1 = _energy(dft.RKS(water, xc='NN-GGA'))
    mf = dft.RKS(water)
    mf.xc = 'nn-gga'
    assert abs(_energy(mf) - e1) < 1e-10


@pytest.mark.parametrize('xc', ['nn-metagga', 'nn-nra'])
def test_uks_on_closed_shell_equals_rks(water, xc):
    e_rks = _energy(dft.RKS(water, xc=xc))
    e_uks = _energy(dft.UKS(water, xc=xc))
    assert abs(e_rks - e_uks) < 1e-8


def test_to_uks_and_roks():
    mol = gto.M(atom='N 0 0 0; H 0 0 1.03; H 0.99 0 -0.26', spin=1, basis='6-31g', verbose=0)
    e_uks = _energy(dft.UKS(mol, xc='nn-gga'))
    e_roks = _energy(dft.ROKS(mol, xc='nn-gga'))
    # ROKS is UKS with a constraint: never lower
    assert e_roks >= e_uks - 1e-8
    assert e_roks - e_uks < 5e-3
    rks = dft.RKS(gto.M(atom=WATER, basis='6-31g', verbose=0), xc='nn-gga')
    e_rks = _energy(rks)
    assert abs(_energy(rks.to_uks()) - e_rks) < 1e-8


@pytest.mark.parametrize('xc', ['nn-lsda', 'nn-gga', 'nn-metagga', 'nn-nra'])
def test_density_fitting(water, xc):
    e = _energy(dft.RKS(water, xc=xc))
    mf = dft.RKS(water, xc=xc).density_fit()
    assert abs(_energy(mf) - e) < 1e-4                  # DF error only
    pbe = dft.RKS(water, xc='pbe').density_fit()
    pbe.with_df.build()
    # a pure functional: the same auxiliary basis PySCF picks for PBE
    assert mf.with_df.auxmol.nao == pbe.with_df.auxmol.nao


def test_registered_names_resolve_like_libxc_names():
    libxc = dft.libxc
    assert libxc.xc_type('nn-lsda') == 'LDA'
    assert libxc.xc_type('nn-gga') == 'GGA'
    assert libxc.xc_type('nn-metagga') == 'MGGA' == libxc.xc_type('NN-NRA')
    for name in ('nn-lsda', 'nn-gga', 'nn-metagga', 'nn-nra'):
        assert not libxc.is_hybrid_xc(name) and not libxc.is_nlc(name)
        assert libxc.rsh_coeff(name) == (0, 0, 0) and libxc.hybrid_coeff(name) == 0
    assert libxc.max_deriv_order('nn-metagga') == 2
    assert libxc.max_deriv_order('nn-nra') == 1


def test_eval_xc_libxc_layout_matches_eff_layout():
    '''libxc.eval_xc (rho, sigma derivatives) and eval_xc_eff (rho-row derivatives) agree.'''
    rng = np.random.default_rng(1)
    rho = np.abs(rng.normal(size=(5, 20))) + 0.1
    exc, (vrho, vsigma, vlapl, vtau), _, _ = dft.libxc.eval_xc('nn-metagga', rho)
    eff = dft.numint.NumInt().eval_xc_eff('nn-metagga', rho, deriv=1)[1]
    assert vlapl is None
    assert np.allclose(eff[0], vrho, rtol=1e-12)
    assert np.allclose(eff[1:4], 2 * vsigma * rho[1:4], rtol=1e-10)
    assert np.allclose(eff[4], vtau, rtol=1e-12)


_PYSCF_ONLY = r'''
import json, numpy
from pyscf import gto, dft
from pyscf.dft import libxc
%s
out = {}
for xc in ['b3lyp', 'cam-b3lyp', 'wb97m-v', 'pbe', 'scan', 'lda,vwn', 'tpss']:
    out[xc] = [libxc.xc_type(xc), libxc.is_hybrid_xc(xc), libxc.is_nlc(xc),
               libxc.hybrid_coeff(xc), list(libxc.rsh_coeff(xc)), libxc.max_deriv_order(xc)]
mol = gto.M(atom='H 0 0 0; F 0 0 0.92', basis='6-31g', verbose=0)
for xc in ['b3lyp', 'cam-b3lyp', 'tpss']:
    mf = dft.RKS(mol, xc=xc); mf.grids.level = 1; out['E_' + xc] = mf.kernel()
rho = numpy.linspace(0.01, 1, 5 * 7).reshape(5, 7)
mf = dft.RKS(mol, xc='pbe'); mf.grids.level = 1; mf.kernel()
out['G_rks_pbe'] = mf.nuc_grad_method().kernel().ravel().tolist()
mol2 = gto.M(atom='N 0 0 0; H 0 0 1.03; H 0.99 0 -0.26', spin=1, basis='6-31g', verbose=0)
mf = dft.UKS(mol2, xc='pbe'); mf.grids.level = 1; out['E_uks_pbe'] = mf.kernel()
out['G_uks_pbe'] = mf.nuc_grad_method().kernel().ravel().tolist()
out['nlc_wb97m-v'] = [list(map(float, c[0])) + [float(c[1])] for c in libxc.nlc_coeff('wb97m-v')]
out['eval_xc_pbe'] = [numpy.asarray(a).ravel().tolist()
                      for a in libxc.eval_xc('pbe', rho[:4], deriv=1)[:2]]
out['test_deriv_order'] = [libxc.test_deriv_order('pbe', 2, raise_error=False)]
out['xc_reference'] = libxc.xc_reference('pbe')
from pyscf.scf.dispersion import parse_dft
out['parse_b3lyp-d3bj'] = list(parse_dft('b3lyp-d3bj'))
out['eval_scan'] = dft.numint.NumInt().eval_xc_eff('scan', rho, deriv=2)[2].ravel().tolist()
print(json.dumps(out))
'''


def test_importing_pyscf_ml_changes_no_pyscf_name():
    run = lambda prelude: json.loads(subprocess.run(
        [sys.executable, '-c', _PYSCF_ONLY % prelude], capture_output=True, text=True,
        check=True).stdout)
    plain, with_plugin = run(''), run('import pyscf_ml')
    assert plain.keys() == with_plugin.keys()
    for key in plain:
        if key.startswith(('E_', 'G_')):
            # PySCF's own energies vary between identical runs at ~1e-13 (OpenMP reduction
            # order), with or without pyscf_ml
            assert np.abs(np.subtract(with_plugin[key], plain[key])).max() < 1e-10, key
        else:
            assert with_plugin[key] == plain[key], key


def _wrapped_attributes():
    from pyscf.grad import rks as rks_grad
    from pyscf.grad import uks as uks_grad
    owners = [dft.libxc, dft.numint.NumInt, dft.numint.LibXCMixin, rks_grad, uks_grad]
    return {(owner.__name__, name): getattr(owner, name) for owner in owners
            for name in dir(owner) if hasattr(getattr(owner, name), '_pyscf_ml_original')}


def test_install_is_idempotent():
    from pyscf_ml.xc import pyscf_hooks
    before = _wrapped_attributes()
    assert len(before) >= 18     # libxc answers, eval_xc_eff, nr_rks/uks, four gradients
    pyscf_hooks.install()
    pyscf_hooks.install()
    assert _wrapped_attributes() == before
    for key, fn in before.items():
        # one layer of wrapping, whose original is PySCF's own function
        original = fn._pyscf_ml_original
        assert original.__module__.startswith('pyscf.'), key
        assert not hasattr(original, '_pyscf_ml_original'), key


def test_user_registration(water, tmp_path):
    '''register() with our own weight format: same weights, same energy, under a new name.'''
    import shutil
    target = tmp_path / 'mine.pt'
    shutil.copy(weights_path('nn_gga.pt'), target)
    nnxc.register('my-gga', 'nn-gga', str(target))
    try:
        assert 'my-gga' in nnxc.registered_names()
        assert abs(_energy(dft.RKS(water, xc='my-gga'))
                   - _energy(dft.RKS(water, xc='nn-gga'))) < 1e-10
    finally:
        nnxc.unregister('my-gga')
    with pytest.raises(ValueError, match='PySCF knows'):
        nnxc.register('pbe', 'nn-gga', str(target))


def test_user_registration_of_published_legacy_file(water, nagai_dir):
    import os
    nnxc.register('legacy-gga', 'nn-gga', os.path.join(nagai_dir, 'NNGGA'))
    try:
        assert np.isfinite(_energy(dft.RKS(water, xc='legacy-gga')))
    finally:
        nnxc.unregister('legacy-gga')
