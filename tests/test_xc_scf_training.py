'''SCF-in-the-loop training of nn-* functionals: the exact loss gradient.

- The CPKS kernel (network Hessian-vector products on the whole grid) equals PySCF's own
  fxc response for a local form (independent code path).
- The CPKS density response equals a finite difference of the SCF density under a perturbed
  Hamiltonian (RKS and UKS; local and NRA).
- The full training gradient (energy + density terms) equals a central finite difference of the
  loss in parameter space along a random direction (relative error <= 1e-4, issue 3).
'''
import numpy as np
import pytest
import torch
from pyscf import cc, gto, scf

import pyscf_ml  # noqa: F401  (registers the nn-* names)
from pyscf_ml import weights
from pyscf_ml.train.scf_loop import TrainingSystem, flat_grad
from pyscf_ml.train.xc_scf import SCFLoss
from pyscf_ml.xc.forms import NagaiMLP, form_spec
from pyscf_ml.xc.registry import lookup
from pyscf_ml.xc.weights_io import load_state_dict

H2O = 'O 0 0 0.1173; H 0 0.7572 -0.4692; H 0 -0.7572 -0.4692'
NH2 = 'N 0 0 0; H 0 1.0 0.2; H 0.95 -0.3 0.1'


def _system(form, atom, spin, basis='6-31g', level=1, conv_tol=1e-12):
    mol = gto.M(atom=atom, spin=spin, basis=basis, verbose=0)
    s = TrainingSystem('x', mol, form_spec(form), form, grid_level=level, density_fit=False,
                       conv_tol=conv_tol)
    s.mf.conv_tol_grad = 1e-10
    s.run_scf()
    return s


@pytest.mark.parametrize('atom,spin', [(H2O, 0), (NH2, 1)])
def test_response_kernel_equals_pyscf_fxc(atom, spin):
    s = _system('nn-metagga', atom, spin, conv_tol=1e-9)
    vresp = s.response_operator(lookup('nn-metagga').net())
    rng = np.random.default_rng(0)
    nao = s.mol.nao
    dm1 = rng.standard_normal((spin + 1, nao, nao))
    dm1 = dm1 + dm1.transpose(0, 2, 1)
    ours = vresp(dm1)
    theirs = s.mf.gen_response(hermi=1)(dm1[0] if spin == 0 else dm1)
    assert abs(ours - theirs).max() < 1e-10 * abs(theirs).max()


@pytest.mark.parametrize('form,atom,spin', [('nn-metagga', H2O, 0), ('nn-nra', NH2, 1)])
def test_cpks_response_equals_finite_difference(form, atom, spin):
    s = _system(form, atom, spin)
    dm0 = s.dm.copy()
    rng = np.random.default_rng(1)
    nao = s.mol.nao
    h1 = rng.standard_normal((nao, nao))
    h1 = h1 + h1.T
    z = s.density_response(lookup(form).net(), np.stack([h1] * (spin + 1)))
    hcore = s.mf.get_hcore()
    step, dms = 1e-4, []
    for sign in (1, -1):
        s.mf.get_hcore = lambda *args, sign=sign: hcore + sign * step * h1
        s.dm = dm0.copy()
        s.run_scf()
        dms.append(s.dm)
    fd = (dms[0] - dms[1]) / (2 * step)
    fd = fd[None] if spin == 0 else fd
    assert abs(z - fd).max() < 1e-4 * abs(z).max()


def _h2_references(basis):
    '''CCSD densities of H2 and the H atom (a tiny stand-in for the xc-reference file).'''
    entries = {'H2': dict(atom='H 0 0 0; H 0 0 0.7414', spin=0, composition={'H': 2},
                          # the exact De of H2, 38 297 cm-1 (Kolos & Wolniewicz)
                          de_exp=109.49),
               'H': dict(atom='H 0 0 0', spin=1)}
    dms = {}
    for name, e in entries.items():
        mol = gto.M(atom=e['atom'], spin=e['spin'], basis=basis, verbose=0)
        mycc = cc.CCSD(scf.UHF(mol).run()).run()
        dms[name] = np.asarray(mycc.make_rdm1(ao_repr=True))
    meta = dict(basis=basis, molecules=['H2'], systems=['H2', 'H'], entries=entries)
    return dict(meta=meta, dm=dms)


@pytest.mark.parametrize('form,weights_ed', [('nn-metagga', (1.0, 1e6)), ('nn-nra', (1.0, 1e6)),
                                             ('nn-metagga', (0.0, 1e6)), ('nn-nra', (1.0, 0.0))])
def test_training_gradient_equals_finite_difference(form, weights_ed, monkeypatch):
    '''dL/dtheta . u against [L(theta + h u) - L(theta - h u)] / 2h, u a random unit vector.
    The weights make the density term comparable to (or, in the third case, all of) the loss.
    The last case has no density term: no NN-NRA kernel is pinned, and with a one-entry kernel
    cache each system's kernel is built once per round (its energy gradient is taken right
    after its SCF, not after the other system's SCF has evicted the kernel).'''
    from pyscf_ml.xc import nra_kernel
    monkeypatch.setattr(nra_kernel, '_PINNED', {})
    monkeypatch.setattr(nra_kernel, '_CACHE', nra_kernel.OrderedDict())
    monkeypatch.setattr(nra_kernel, '_CACHE_SIZE', 1)
    builds = []
    original_init = nra_kernel.NearRegionKernel.__init__

    def counting_init(self, *args, **kwargs):
        builds.append(1)
        original_init(self, *args, **kwargs)
    monkeypatch.setattr(nra_kernel.NearRegionKernel, '__init__', counting_init)
    refs = _h2_references('def2-svp')
    loss = SCFLoss(form, refs, grid_level=1, density_fit=False, conv_tol=1e-14,
                   energy_weight=weights_ed[0], density_weight=weights_ed[1])
    for s in loss.systems.values():
        s.mf.conv_tol_grad = 1e-11
    net = NagaiMLP(form_spec(form).n_features).double()
    net.load_state_dict(load_state_dict(weights.path(form.replace('-', '_') + '.pt'), form))
    try:
        value, parts = loss(net)
        if weights_ed[1]:
            assert parts['loss_density'] > 0.1 * value   # the density term is really tested
        else:
            assert not nra_kernel._PINNED and value > 0
            builds.clear()
            loss(net)
            assert len(builds) == len(loss.systems) == 2
        grad = flat_grad(net).clone()
        torch.manual_seed(0)
        params = list(net.parameters())
        dirs = [torch.randn_like(p) for p in params]
        norm = torch.sqrt(sum((d * d).sum() for d in dirs))
        dirs = [d / norm for d in dirs]
        analytic = float(grad @ torch.cat([d.reshape(-1) for d in dirs]))
        step, values = 1e-4, []
        for sign in (1, -1):
            with torch.no_grad():
                for p, d in zip(params, dirs):
                    p.add_(sign * step * d)
            values.append(loss(net, grad=False)[0])
            with torch.no_grad():
                for p, d in zip(params, dirs):
                    p.sub_(sign * step * d)
        fd = (values[0] - values[1]) / (2 * step)
        assert abs(fd - analytic) <= 1e-4 * abs(analytic), (fd, analytic)
    finally:
        loss.close()


def test_reference_and_training_cli(tmp_path):
    '''The pipeline end to end on LiH/STO-3G: data file, two training steps across a resume,
    weights that load as a functional, and a card that records data, command and metrics.'''
    import json

    from pyscf_ml.data import xc_reference
    from pyscf_ml.train import xc as train_xc
    ref = tmp_path / 'ref.npz'
    xc_reference.main(['--molecules', 'LiH', '--basis', 'sto-3g', '--out', str(ref)])
    out, ckpt = tmp_path / 'w.pt', tmp_path / 'w.ckpt'
    common = ['--form', 'nn-gga', '--reference', str(ref), '--out', str(out), '--grid-level', '0',
              '--checkpoint', str(ckpt), '--resume', '--log', str(tmp_path / 'log')]
    assert train_xc.main(common + ['--steps', '2', '--time-limit', '1e-9']) == 3   # stops at 1
    assert not out.exists()
    assert train_xc.main(common + ['--steps', '2']) == 0
    log = (tmp_path / 'log').read_text().splitlines()
    assert [line.split()[0] for line in log] == ['[1/2]', '[2/2]']
    card = json.loads((tmp_path / 'w.json').read_text())
    assert card['training_data']['molecules'] == ['LiH']
    assert set(card['metrics']['training_ae_error_kcal']) == {'LiH'}
    import pyscf_ml.xc as nnxc
    fn = nnxc.register('nn-test-scf-trained', 'nn-gga', str(out), overwrite=True)
    try:
        assert fn.load() is fn
    finally:
        nnxc.unregister('nn-test-scf-trained')
