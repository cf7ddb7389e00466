'''``mf.init_guess = 'phisnet'``: the learned Hamiltonian as an SCF initial guess.

PySCF's ``hf.SCF.get_init_guess`` is an if/elif chain over its built-in keys in which any other
string silently becomes MINAO.  RHF, UHF, ROHF and GHF (hence the KS, density-fitted and
second-order objects built on them, and ``scf.hf.get_init_guess``) all reach that one method at
call time, so :func:`install` wraps it once: keys ``phisnet`` / ``phisnet:<model>`` are answered
here, every other key (and every non-string) goes to the original method untouched.

From the predicted Fock matrix (near-linearly-dependent AO combinations treated as the model's
card says: :func:`pyscf_ml.guess.predict.treat_near_dependent`) the guess uses the object's
own ``eig``, ``get_occ`` and ``make_rdm1`` with PySCF's exact overlap, so the density has the
object's shape; RHF/ROHF use the object's ``get_occ``, UHF and GHF an aufbau per spin (one
spatial F makes both spins degenerate, which their own ``get_occ`` would report as
HOMO >= LUMO).  UHF and GHF guesses then break the spin symmetry the way PySCF's own guesses
do (``init_guess_breaksym`` for UHF singlets; a small alpha-beta coupling for GHF).  A molecule
or object the model cannot serve, missing/corrupt weights, a non-finite prediction or one that
fails (e.g. a user's weight file whose basis does not fit) logs a warning saying why and falls
back to MINAO.
'''
import functools

import numpy
import scipy.linalg
from pyscf.lib import logger
from pyscf.scf import ghf, hf, rohf, uhf

from pyscf_ml.guess import predict
from pyscf_ml.modelcard import WeightFileError

KEY = 'phisnet'


def is_phisnet_key(key):
    return isinstance(key, str) and key.strip().lower().split(':', 1)[0] == KEY


def _model_of(key):
    ''''phisnet' -> None (default model); 'phisnet:ethanol' -> 'ethanol'; paths are kept.

    'phisnet:' with nothing after the colon gives '', which the hook refuses (a name was meant).
    '''
    parts = key.strip().split(':', 1)
    if len(parts) == 1:
        return None
    return parts[1].strip()


def _flavour(mf):
    # order matters: ROHF derives from RHF
    if isinstance(mf, ghf.GHF):
        return 'ghf'
    if isinstance(mf, uhf.UHF):
        return 'uhf'
    if isinstance(mf, rohf.ROHF):
        return 'rohf'
    if isinstance(mf, hf.RHF):
        return 'rhf'
    return None


def init_guess_by_phisnet(mf, mol=None, model=None):
    '''Density-matrix guess from the predicted Fock matrix, in the shape ``mf`` expects.'''
    if mol is None:
        mol = mf.mol
    log = logger.new_logger(mf)
    t0 = (logger.process_clock(), logger.perf_counter())
    flavour = _flavour(mf)
    reason = None
    if flavour is None:
        reason = f'{mf.__class__.__name__} objects are not supported'
    elif model == '':
        reason = "no model named after 'phisnet:' (use 'phisnet' for the default model)"
    elif getattr(mf, 'cell', None) is not None:
        reason = 'periodic systems are not supported'
    else:
        try:
            pred = predict.load_model(model)
            reason = pred.unsupported(mol)
        except WeightFileError as e:
            reason = str(e)
    if reason:
        log.warn('init_guess phisnet: %s. Use MINAO initial guess', reason)
        return mf.init_guess_by_minao(mol)

    try:
        f_m, mol_m = pred.fock_model_basis(mol)
        same = predict.same_basis(mol_m, mol)
        f = f_m if same else predict.project_fock(f_m, mol_m, mol)
    except predict.PredictionError as e:
        log.warn('init_guess phisnet: %s. Use MINAO initial guess', e)
        return mf.init_guess_by_minao(mol)
    except (numpy.linalg.LinAlgError, ValueError, RuntimeError, KeyError) as e:
        # e.g. a user's weight file whose basis PySCF does not know or whose shells do not
        # fit it, or a singular model-basis overlap: a guess is never worth a crash
        log.warn('init_guess phisnet: the prediction failed (%s: %s). Use MINAO initial '
                 'guess', type(e).__name__, e)
        return mf.init_guess_by_minao(mol)
    log.info('Initial guess from the learned Hamiltonian model %s%s', pred.name,
             '' if same else f' (predicted in {pred.basis}, projected to the target basis)')
    if mol.charge or mol.spin:
        # the network sees atoms and positions only; the SCF corrects what the ion needs
        log.note('init_guess phisnet: model %s was trained on neutral closed-shell molecules; '
                 'its prediction for these atoms is occupied with charge %d, spin %d',
                 pred.name, mol.charge, mol.spin)
    s = mf.get_ovlp(mol)
    if flavour == 'ghf':
        # block-diagonal F has exactly degenerate alpha/beta spin orbitals, so GHF's aufbau
        # would half-fill a degenerate pair of an open shell; fill per spin like UHF instead
        n = s.shape[0] // 2
        _, c = mf._eigh(f, s[:n, :n])
        na, nb = mol.nelec
        dma, dmb = c[:, :na] @ c[:, :na].T, c[:, :nb] @ c[:, :nb].T
        dm = scipy.linalg.block_diag(dma, dmb)
        # as PySCF's own GHF guesses do (ghf._from_rhf_init_dm): a small alpha-beta coupling,
        # without which the SCF cannot leave the collinear solution
        idx = numpy.arange(n)
        dm[idx + n, idx] = dm[idx, idx + n] = .025 * (dma.diagonal() + dmb.diagonal())
    elif flavour == 'uhf':
        # one spatial F for both spins: UHF.get_occ would compare alpha HOMO with the identical
        # beta LUMO and warn; occupy na / nb lowest orbitals of each spin instead
        mo_energy, mo_coeff = mf.eig(numpy.asarray((f, f)), s)
        mo_occ = numpy.zeros_like(mo_energy)
        na, nb = mf.nelec
        mo_occ[0, numpy.argsort(mo_energy[0])[:na]] = 1
        mo_occ[1, numpy.argsort(mo_energy[1])[:nb]] = 1
        dm = mf.make_rdm1(mo_coeff, mo_occ)
        # as every PySCF UHF guess does: break the alpha/beta symmetry of a singlet
        # (init_guess_breaksym), or the SCF cannot reach a broken-symmetry solution
        dm = numpy.asarray(uhf._break_dm_spin_symm(mol, dm, mf.init_guess_breaksym))
    else:
        mo_energy, mo_coeff = mf.eig(f, s)
        mo_occ = mf.get_occ(mo_energy, mo_coeff)
        dm = mf.make_rdm1(mo_coeff, mo_occ)
    log.timer('init_guess phisnet', *t0)
    return dm


def _wrap(original):
    @functools.wraps(original)
    def get_init_guess(self, mol=None, key='minao', **kwargs):
        if is_phisnet_key(key):
            if mol is None:
                mol = self.mol
            if getattr(mol, 'natm', 0) == 0:
                return original(self, mol, key, **kwargs)   # PySCF's own 1e fallback
            return init_guess_by_phisnet(self, mol, _model_of(key))
        return original(self, mol, key, **kwargs)
    get_init_guess._pyscf_ml_original = original
    return get_init_guess


def install():
    '''Wrap ``hf.SCF.get_init_guess`` (idempotent).'''
    current = hf.SCF.get_init_guess
    if getattr(current, '_pyscf_ml_original', None) is None:
        hf.SCF.get_init_guess = _wrap(current)


def uninstall():
    '''Restore PySCF's own ``hf.SCF.get_init_guess``.'''
    original = getattr(hf.SCF.get_init_guess, '_pyscf_ml_original', None)
    if original is not None:
        hf.SCF.get_init_guess = original


def is_installed():
    return getattr(hf.SCF.get_init_guess, '_pyscf_ml_original', None) is not None
