'''Public prediction API: Fock matrix, orbital energies, coefficients and density matrix.

>>> from pyscf import gto
>>> from pyscf_ml.guess import predict
>>> mol = gto.M(atom='O 0 0 0.12; H 0 0.76 -0.47; H 0 -0.76 -0.47', basis='cc-pvdz')
>>> res = predict.orbitals(mol)           # default transferable H/C/N/O model
>>> res['fock'].shape == (mol.nao, mol.nao)
True

Models predict in their own basis (def2-SVP); results for another basis are projected: with
A = S_tm S_m^-1 (S_tm the cross overlap), F_t = A F_m A^T, i.e. the Fock operator
sum_i |phi_i> e_i <phi_i| of the model-basis orbitals, expressed in the target AOs.  Parts of the
target space the model basis cannot reach get orbital energy 0 and end up virtual.

Before that, the overlap eigen-directions with eigenvalue below ``lindep_threshold`` (near
linear dependences, where small errors of a learned F become spurious occupied levels) are
treated in one of two ways (``lindep_method``): ``'drop'`` rebuilds F_m from its eigenpairs in
the span of the others (canonical orthogonalisation, :func:`drop_near_dependent`);
``'baseline'`` keeps the network's correction to F0 = Hcore + V_SAP only on the others and lets
F0 alone act on them (:func:`baseline_on_near_dependent`).  Each model's card may name its own
choice (``near_dependence``, chosen on validation conformers); without one: drop at 0.03.

``model`` arguments accept a shipped name ('hcno' (default), 'water', 'ethanol', ...), the path of
a weight file written by ``python -m pyscf_ml.train phisnet --weights``, or a loaded
:class:`Predictor`.
'''
import functools
import os

import numpy
import scipy.linalg
import torch
from pyscf import gto

from pyscf_ml import weights
from pyscf_ml.device import get_device
from pyscf_ml.e3nn_utils import load_trained_state
from pyscf_ml.guess.ao_order import SlotLayout
from pyscf_ml.guess.baseline import baseline_fock
from pyscf_ml.guess.model import build_model
from pyscf_ml.modelcard import WeightFileError, read_card, verify_weights

DEFAULT_MODEL = 'hcno'

# Overlap eigenvalue below which AO combinations are left out when the predicted Fock matrix is
# diagonalised.  Chosen on the validation splits (benchmarks/lindep_threshold.py, results in
# benchmarks/results/lindep_threshold.md); def2-SVP's smallest overlap eigenvalues for our
# molecules are 1e-3 to 3e-2.
LINDEP_THRESHOLD = 0.03


class PredictionError(ValueError):
    '''The network's output cannot be used (non-finite elements).'''


def drop_near_dependent(fock, ovlp, threshold=LINDEP_THRESHOLD):
    '''(F', number of dropped directions): F' has the eigenpairs (e, C) of F in the span of the
    overlap eigenvectors with eigenvalue > threshold (canonical orthogonalisation), and on the
    dropped directions the top orbital energy of the kept ones (at least 0), so that they are
    never occupied: F' = S C (e - e_top) C^T S + e_top S.

    Why: an error dF along a normalised combination u of overlap eigenvalue sigma moves its
    orbital energy by u.dF.u / sigma.  Near-dependent def2-SVP combinations (sigma ~ 1e-3 in
    uracil) turn the ~1 mHa errors of a learned F into spurious occupied levels at -3 to -8 Ha
    that the SCF then has to empty.
    '''
    if not threshold:
        return fock, 0
    sigma, u = scipy.linalg.eigh(ovlp)
    keep = sigma > threshold
    if keep.all():
        return fock, 0
    x = u[:, keep] / numpy.sqrt(sigma[keep])
    e, c = scipy.linalg.eigh(x.T @ fock @ x)
    sc = ovlp @ (x @ c)
    # on the S-orthogonal complement of the kept orbitals F' c = e_top S c
    e_top = max(float(e[-1]), 0.0)
    f = (sc * (e - e_top)) @ sc.T + e_top * ovlp
    return f, int((~keep).sum())


def baseline_on_near_dependent(fock0, delta, ovlp, threshold=LINDEP_THRESHOLD):
    '''(F', number of near-dependent directions): F' = F0 + M delta M, with M the projector
    onto the overlap eigenvectors with eigenvalue > threshold.

    Why: dropping a direction (:func:`drop_near_dependent`) removes the occupied orbitals' small
    but real components along it, which costs even the exact F 6-9 SCF cycles
    (benchmarks/results/lindep_threshold_reference.md).  Here those directions keep the
    baseline F0, a true one-electron operator: along a normalised combination of overlap
    eigenvalue sigma it has a bounded Rayleigh quotient, whereas the network's correction
    there is divided by sigma.  In the orthonormal basis U sigma^-1/2 the correction is zeroed
    on every block that touches a dropped direction.  Measured: it does not lower that cost
    (benchmarks/results/near_dependence_reference.md) and no shipped card chooses it; it stays
    as an option for models whose validation runs prefer it.
    '''
    if not threshold:
        return fock0 + delta, 0
    sigma, u = scipy.linalg.eigh(ovlp)
    keep = sigma > threshold
    if keep.all():
        return fock0 + delta, 0
    m = u[:, keep] @ u[:, keep].T
    return fock0 + m @ delta @ m, int((~keep).sum())


def _drop(fock0, delta, ovlp, threshold):
    return drop_near_dependent(fock0 + delta, ovlp, threshold)


LINDEP_METHODS = {'drop': _drop, 'baseline': baseline_on_near_dependent}


def treat_near_dependent(fock0, delta, ovlp, method='drop', threshold=LINDEP_THRESHOLD):
    '''(F', number of treated directions) for F = fock0 + delta by ``method`` ('drop' or
    'baseline', see the module docstring).'''
    if method not in LINDEP_METHODS:
        raise ValueError(f'lindep_method must be one of {sorted(LINDEP_METHODS)}, not {method!r}')
    return LINDEP_METHODS[method](fock0, delta, ovlp, threshold)


def shipped_models():
    '''Names of the shipped models (weight files pyscf_ml/weights/phisnet_<name>.pt).'''
    return sorted(f[len('phisnet_'):-3] for f in os.listdir(weights.WEIGHTS_DIR)
                  if f.startswith('phisnet_') and f.endswith('.pt'))


def _resolve(model):
    '''(weights path, card path or None, card required?)'''
    model = model or DEFAULT_MODEL
    if os.path.sep in model or model.endswith('.pt'):
        card = os.path.splitext(model)[0] + '.json'
        return model, (card if os.path.exists(card) else None), False
    return (weights.path(f'phisnet_{model}.pt'), weights.path(f'phisnet_{model}.json'), True)


class Predictor:
    '''A loaded Hamiltonian model and what it can serve.  ``card`` (a dict) supplies the name
    and the near-dependence choice; without it the defaults apply and nothing is checked:
    :func:`load_model` reads and checks the card that belongs to the file.'''

    def __init__(self, path, card=None, dtype=torch.float32):
        try:
            blob = torch.load(path, map_location='cpu', weights_only=True)
            self.model = build_model(blob['config'])
            load_trained_state(self.model, blob['state_dict'])
        except WeightFileError:
            raise
        except Exception as e:   # unreadable, truncated or foreign file: name it
            raise WeightFileError(f'weight file {path} could not be loaded: {e}') from None
        self.path = path
        self.card = card or {}
        self.name = self.card.get('name', os.path.basename(path))
        self.basis = blob.get('basis', 'def2-svp')
        # float32 inference: ~1/3 faster on CPU, and its rounding (~1e-7 Ha) is far below the
        # model's error; the float64 baseline F0 is added outside the network
        self.dtype = dtype
        self.model = self.model.to(dtype=dtype, device=get_device()).eval()
        self.layout = SlotLayout(self.model.config['shells'])
        self.lindep_method, self.lindep_threshold = _near_dependence_choice(self.card, path)

    @property
    def elements(self):
        return sorted(self.layout.shells)

    def unsupported(self, mol):
        '''Why this model cannot serve ``mol`` (a string), or None.'''
        if getattr(mol, 'natm', 0) == 0:
            return 'the molecule has no atoms'
        if mol.has_ecp():
            return 'the molecule uses ECPs'
        charges = [int(q) for q in mol.atom_charges()]
        if any(q == 0 for q in charges):
            # PySCF gives ghost ('ghost-O', 'X-O') and dummy ('X') atoms nuclear charge 0
            return 'the molecule has ghost atoms'
        missing = sorted({mol.atom_pure_symbol(a) for a, q in enumerate(charges)
                          if q not in self.layout.shells})
        if missing:
            return f'model {self.name} has no parameters for element(s) {", ".join(missing)}'
        return None

    def model_mol(self, mol):
        '''The molecule in the model's basis (same atoms, charge and spin).'''
        atoms = [(mol.atom_pure_symbol(a), mol.atom_coord(a)) for a in range(mol.natm)]
        return gto.M(atom=atoms, unit='Bohr', basis=self.basis, charge=mol.charge,
                     spin=mol.spin, cart=False, verbose=0)

    @torch.no_grad()
    def prediction_parts(self, mol):
        '''(F0 = Hcore + V_SAP, the network's correction, the molecule) in the model's basis;
        the raw prediction is F0 + correction.'''
        molm = self.model_mol(mol)
        device = next(self.model.parameters()).device
        z = torch.as_tensor(molm.atom_charges(), dtype=torch.long, device=device)
        pos = torch.as_tensor(molm.atom_coords(), dtype=self.dtype, device=device)
        delta = self.model.fock(z, pos)[0].cpu().numpy().astype(numpy.float64)
        if not numpy.isfinite(delta).all():
            # NaN/inf weights or an overflow: never let them reach a diagonalisation
            raise PredictionError(f'model {self.name} predicted non-finite Fock matrix '
                                  f'elements for this molecule')
        return baseline_fock(molm), delta, molm

    def fock_model_basis(self, mol, lindep_threshold=None, lindep_method=None):
        '''Predicted Fock matrix in the model's basis (PySCF AO order) and that molecule; with
        ``lindep_threshold=0`` the network's raw prediction, otherwise near-dependent directions
        treated by :func:`treat_near_dependent` (None: the model card's choice).'''
        f0, delta, molm = self.prediction_parts(mol)
        f, _ = self.treat_near_dependent(f0, delta, molm.intor_symmetric('int1e_ovlp'),
                                         lindep_threshold, lindep_method)
        return f, molm

    def treat_near_dependent(self, fock0, delta, ovlp, lindep_threshold=None,
                             lindep_method=None):
        ''':func:`treat_near_dependent` with this model's card choice for each argument left
        None (each falls back on its own).'''
        if lindep_threshold is None:
            lindep_threshold = self.lindep_threshold
        if lindep_method is None:
            lindep_method = self.lindep_method
        return treat_near_dependent(fock0, delta, ovlp, lindep_method, lindep_threshold)


def _near_dependence_choice(card, path):
    '''(method, threshold) from the card's ``near_dependence`` entry; default drop at 0.03.'''
    choice = card.get('near_dependence', {})
    method, threshold = None, None
    if isinstance(choice, dict):
        method = choice.get('method', 'drop')
        try:
            threshold = float(choice.get('threshold', LINDEP_THRESHOLD))
        except (TypeError, ValueError):
            pass
    # a threshold of 1 or more would leave no direction at all
    if method not in LINDEP_METHODS or threshold is None or not 0 <= threshold < 1:
        raise WeightFileError(f'model card of {path}: invalid near_dependence entry {choice!r} '
                              f'(method one of {sorted(LINDEP_METHODS)}, 0 <= threshold < 1)')
    return method, threshold


@functools.lru_cache(maxsize=8)
def _load_cached(path, card_path, required, mtime, dtype):
    card = None
    if card_path is not None:
        card = read_card(card_path) if (required or os.path.exists(card_path)) else None
    if card is not None:
        verify_weights(path, card)
    elif not os.path.isfile(path):
        raise WeightFileError(f'weight file {path} not found')
    return Predictor(path, card, dtype=dtype)


def load_model(model=None, dtype=torch.float32):
    '''A :class:`Predictor` for a shipped name, a weight-file path or a Predictor (as is),
    with its model card (checksum, near-dependence choice); ``dtype=torch.float64`` predicts
    in float64.  Raises WeightFileError (naming the file) for missing, corrupt or unreadable
    weights.'''
    if isinstance(model, Predictor):
        return model
    path, card, required = _resolve(model)
    if required and not os.path.exists(path):
        known = ', '.join(shipped_models()) or 'none'
        raise WeightFileError(f'weight file {path} not found (shipped models: {known})')
    # the files' modification times and sizes are part of the cache key: rewritten weights or
    # card reload
    mtime = tuple((os.stat(p).st_mtime_ns, os.stat(p).st_size) if p and os.path.exists(p)
                  else None for p in (path, card))
    return _load_cached(os.path.abspath(path), card, required, mtime, dtype)


def project_fock(fock_m, mol_m, mol):
    '''F_t = A F_m A^T with A = S_tm S_m^-1: the model-basis Fock operator in mol's AOs.'''
    s_m = mol_m.intor_symmetric('int1e_ovlp')
    s_tm = gto.intor_cross('int1e_ovlp', mol, mol_m)
    a = scipy.linalg.solve(s_m, s_tm.T, assume_a='pos').T
    return a @ fock_m @ a.T


def same_basis(mol_m, mol):
    if mol.cart or mol.nao_nr() != mol_m.nao_nr():
        return False
    s = mol.intor_symmetric('int1e_ovlp')
    return numpy.allclose(gto.intor_cross('int1e_ovlp', mol, mol_m), s, atol=1e-12)


def fock(mol, model=None, lindep_threshold=None, lindep_method=None, ignore_charge_spin=False):
    '''Predicted (PBE/def2-SVP-quality) Fock matrix in mol's own AO basis (see the module
    docstring for ``lindep_threshold`` and ``lindep_method``; None: the model card's choice;
    ``lindep_threshold=0`` gives the network's raw prediction).

    The models see only atoms and positions and were trained on neutral closed-shell molecules,
    so a charged or open-shell ``mol`` raises ValueError; ``ignore_charge_spin=True`` returns the
    neutral closed-shell prediction for its atoms anyway (what ``init_guess='phisnet'`` starts
    such an SCF from).'''
    pred = load_model(model)
    reason = pred.unsupported(mol)
    if reason:
        raise ValueError(reason)
    if (mol.charge or mol.spin) and not ignore_charge_spin:
        raise ValueError(f'model {pred.name} predicts the Fock matrix of neutral closed-shell '
                         f'molecules; this one has charge {mol.charge} and spin {mol.spin}. '
                         f'Pass ignore_charge_spin=True for the neutral prediction anyway')
    f_m, mol_m = pred.fock_model_basis(mol, lindep_threshold, lindep_method)
    return f_m if same_basis(mol_m, mol) else project_fock(f_m, mol_m, mol)


def orbitals(mol, model=None, lindep_threshold=None, lindep_method=None,
             ignore_charge_spin=False):
    '''Prediction in mol's basis, as a dict: fock, ovlp, mo_energy, mo_coeff, mo_occ (aufbau,
    per spin: shape (2, nmo)), dm (alpha+beta).  For a charged or open-shell molecule (with
    ``ignore_charge_spin=True``, see :func:`fock`) the neutral closed-shell prediction is
    occupied with mol's alpha and beta electrons.
    '''
    f = fock(mol, model, lindep_threshold, lindep_method, ignore_charge_spin)
    s = mol.intor_symmetric('int1e_ovlp')
    return dict(fock=f, ovlp=s, **aufbau(f, s, mol.nelec))


def aufbau(fock, ovlp, nelec):
    '''Orbitals of any Fock matrix with ``nelec = (n_alpha, n_beta)`` electrons in its lowest
    levels: mo_energy, mo_coeff, mo_occ (per spin, shape (2, nmo)), dm (alpha+beta).'''
    e, c = scipy.linalg.eigh(fock, ovlp)
    occ = numpy.zeros((2, len(e)))
    occ[0, :nelec[0]] = 1
    occ[1, :nelec[1]] = 1
    return dict(mo_energy=e, mo_coeff=c, mo_occ=occ, dm=(c * occ.sum(0)) @ c.T)
