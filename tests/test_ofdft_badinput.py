'''Bad input gives a clear error, or converged=False with a warning -- never a silent number.'''
import uuid

import numpy as np
import pytest
from pyscf import gto

from pyscf_ml.ofdft import OFDFT, OFDFTWarning, kinetic


@pytest.fixture(scope='module')
def h2():
    return gto.M(atom='H 0 0 0; H 0 0 0.74', basis='unc-6-31g', verbose=0)


def test_open_shell_rejected():
    mol = gto.M(atom='Li 0 0 0', spin=1, basis='unc-6-31g', verbose=0)
    with pytest.raises(ValueError, match='closed-shell'):
        OFDFT(mol).kernel()


@pytest.mark.parametrize('xc,match', [('b3lyp', 'hybrid'), ('scan', 'MGGA'),
                                      ('no-such-functional', 'unknown XC')])
def test_unsupported_xc(h2, xc, match):
    with pytest.raises(ValueError, match=match):
        OFDFT(h2, xc=xc).kernel()


def test_unknown_kinetic(h2):
    with pytest.raises(ValueError, match='unknown kinetic functional'):
        OFDFT(h2, kinetic='thomas').kernel()


def test_bad_start(h2):
    with pytest.raises(ValueError, match='psi0'):
        OFDFT(h2).kernel(psi0=np.zeros(3))
    with pytest.raises(ValueError, match='dm0'):
        OFDFT(h2).kernel(dm0=np.eye(2))


def test_bad_start_values(h2):
    '''A dm0 of the right shape but no electrons or NaN entries is refused by name, not
    turned into a NaN energy.'''
    n = h2.nao
    for dm0 in (np.zeros((n, n)), np.full((n, n), np.nan), -np.eye(n)):
        with pytest.raises(ValueError, match='dm0 must be finite'):
            OFDFT(h2).kernel(dm0=dm0)


@pytest.mark.parametrize('name', ['1/0vw', '.vw', '1.5/2vw'])
def test_bad_coefficient_in_kinetic_name(h2, name):
    with pytest.raises(ValueError, match='bad coefficient'):
        OFDFT(h2, kinetic=name).kernel()


def test_ecp_rejected():
    '''The energy is all-electron (vW with 2 electrons would give -0.85 Ha for this Na2 against
    RKS's -0.39, the ECP silently dropped); KineticNet would read Na's valence charge 1 as H.'''
    from pyscf_ml.ofdft.learned import KineticNetFunctional
    mol = gto.M(atom='Na 0 0 0; Na 0 0 3.08', basis='unc-lanl2dz', ecp='lanl2dz', verbose=0)
    with pytest.raises(ValueError, match='ECP'):
        OFDFT(mol, kinetic='vw').kernel()
    with pytest.raises(ValueError, match='ECP'):
        KineticNetFunctional().check_mol(mol)


def test_misspelt_option_is_reported(h2):
    '''PySCF's _keys check runs: an attribute OFDFT does not have is named in the output.'''
    import io
    out = io.StringIO()
    of = OFDFT(h2, kinetic='vw')
    of.stdout, of.verbose = out, 3
    # PySCF prints each such message once per process: a fresh misspelling for every run
    typo = 'maxcycle_' + uuid.uuid4().hex[:8]
    setattr(of, typo, 3)
    of.kernel()
    assert typo in out.getvalue() and 'does not have attributes' in out.getvalue()


def test_not_converged_warns(h2):
    of = OFDFT(h2, kinetic='tf+1/9vw')
    of.max_cycle = 2
    with pytest.warns(OFDFTWarning, match='did not converge'):
        e = of.kernel()
    assert of.converged is False
    assert np.isfinite(e)            # the last iterate is reported, flagged as unconverged


def test_broken_functional_warns(h2):
    '''A plug-in returning NaN ends the optimisation with converged=False, e_tot = nan.'''
    class Broken(kinetic.KineticFunctional):
        name = 'broken'

        def energy_and_potential(self, rho, grid):
            return np.nan, np.full_like(rho, np.nan)
    of = OFDFT(h2, kinetic=Broken())
    with pytest.warns(OFDFTWarning):
        e = of.kernel()
    assert of.converged is False and np.isnan(e)


def test_nan_from_the_learned_functional_warns(h2):
    """NaN out of the network itself (a NaN output bias): converged=False, e_tot = nan."""
    import torch

    from pyscf_ml.ofdft.kineticnet import KineticNet
    from pyscf_ml.ofdft.learned import KineticNetFunctional
    net = KineticNet(species=(1,), n_radial=6, mul=3)
    with torch.no_grad():
        net.head[-1].bias.fill_(float('nan'))
    of = OFDFT(h2, kinetic=KineticNetFunctional(model=net, device='cpu'))
    with pytest.warns(OFDFTWarning, match='non-finite'):
        e = of.kernel()
    assert of.converged is False and np.isnan(e)


def test_failure_midway_keeps_the_last_iterate(h2):
    '''A functional that turns NaN after some iterations: converged=False, e_tot nan, and psi
    is the last accepted point of the minimisation, not the starting guess.'''
    class LateNaN(kinetic.ThomasFermi):
        name = 'late-nan'
        vw_coeff = 1 / 9

        def __init__(self):
            self.calls = 0     # per object: a rerun of the test starts afresh

        def energy_and_potential(self, rho, grid):
            self.calls += 1
            e, v = super().energy_and_potential(rho, grid)
            return (np.nan, v) if self.calls > 6 else (e, v)
    of = OFDFT(h2, kinetic=LateNaN())
    with pytest.warns(OFDFTWarning, match='non-finite'):
        e = of.kernel()
    assert of.converged is False and np.isnan(e) and of.niter >= 1
    start = of.get_init_guess()
    start = start / np.sqrt(start @ of._ovlp @ start)
    assert min(np.abs(of.psi - start).max(), np.abs(of.psi + start).max()) > 1e-6
    # the reported psi is a point the optimiser accepted: lower in energy than the start
    ref = OFDFT(h2, kinetic='tf+1/9vw')
    assert ref.energy_tot(of.psi) < ref.energy_tot(start) - 1e-8


def test_settings_changed_after_kernel_are_picked_up(h2):
    '''energy_tot and make_rho after changing xc (or kinetic) without kernel(): rebuilt, the
    same numbers as a fresh object.'''
    of = OFDFT(h2, kinetic='tf+1/9vw', xc='lda,vwn')
    of.kernel()
    psi = of.psi
    of.xc = 'pbe'
    fresh = OFDFT(h2, kinetic='tf+1/9vw', xc='pbe')
    assert abs(of.energy_tot(psi) - fresh.energy_tot(psi)) < 1e-12
    of.kinetic = 'vw'
    fresh.kinetic = 'vw'
    assert abs(of.energy_tot(psi) - fresh.energy_tot(psi)) < 1e-12
    assert of.make_rho(psi, deriv=1).shape == (4, of.grids.weights.size)


def test_density_fit_flag_values(h2):
    '''Any true non-name value means PySCF's default auxiliary basis, as True does.'''
    ref = OFDFT(h2, kinetic='vw')
    ref.density_fit = True
    e_ref = ref.kernel()
    for flag in (1, np.True_):
        of = OFDFT(h2, kinetic='vw')
        of.density_fit = flag
        assert abs(of.kernel() - e_ref) < 1e-10


def test_atom_guess(h2):
    '''init_guess='atom' (PySCF's SAD) starts elsewhere and reaches the same vW minimum.'''
    start = OFDFT(h2, kinetic='vw').build()
    a, b = start.get_init_guess('minao'), start.get_init_guess('atom')
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    assert min(np.abs(a - b).max(), np.abs(a + b).max()) > 1e-3    # a different start
    e = {}
    for key in ('minao', 'atom', 'hcore'):
        of = OFDFT(h2, kinetic='vw')
        of.init_guess = key
        e[key] = of.kernel()
        assert of.converged
    assert abs(e['atom'] - e['minao']) < 1e-8 and abs(e['hcore'] - e['minao']) < 1e-8
    with pytest.raises(ValueError, match='"atom"'):
        OFDFT(h2, kinetic='vw').get_init_guess('sap')
