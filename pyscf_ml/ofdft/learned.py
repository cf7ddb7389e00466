'''Glue between the torch KineticNet model and the OF-DFT solver's kinetic interface:
``kinetic='kineticnet'`` is T_vW (exact, analytic) + the learned Pauli term on the grid.'''
import functools
import os

import numpy as np
import torch

from pyscf_ml import weights as weights_mod
from pyscf_ml.device import resolve_device
from pyscf_ml.e3nn_utils import float64_default, load_trained_state
from pyscf_ml.modelcard import WeightFileError, read_card, verify_weights
from pyscf_ml.ofdft.kinetic import KineticFunctional
from pyscf_ml.ofdft.kineticnet import KineticNet, KineticNetMean

DEFAULT_WEIGHTS = 'kineticnet.pt'


def load_model(weights=None, card=None, device=None):
    '''KineticNet in float64 from a weight file checked against its model card; loaded once
    per (file, modification time, device), since every OFDFT.kernel() asks for it.'''
    weights = os.path.abspath(weights or weights_mod.path(DEFAULT_WEIGHTS))
    card = card or weights[:-3] + '.json'
    mtime = os.path.getmtime(weights) if os.path.exists(weights) else None
    return _load_model(weights, card, mtime, str(resolve_device(device)))


@functools.lru_cache(maxsize=8)
def _load_model(weights, card, mtime, device):
    verify_weights(weights, read_card(card))
    try:
        blob = torch.load(weights, map_location='cpu', weights_only=True)
        with float64_default():     # exact e3nn constants: invariance to ~1e-14, not ~1e-9
            model = KineticNet(**blob['config'])
        load_trained_state(model, blob['state_dict'])
    except (KeyError, RuntimeError, TypeError, ValueError, OSError) as e:
        raise WeightFileError(f'weight file {weights} cannot be loaded: {e}') from None
    return model.double().to(device).eval()


def load_mean_model(weights, device=None):
    '''The mean of the KineticNets in the weight files ``weights`` (a list; each file checked
    against its own card), or the one network when a single file or name is given.'''
    if isinstance(weights, (str, os.PathLike)) or weights is None:
        return load_model(weights, device=device)
    if not weights:
        raise ValueError('no weight files given for the mean of KineticNets')
    if len(weights) == 1:
        return load_model(weights[0], device=device)
    return KineticNetMean([load_model(w, device=device) for w in weights])


class KineticNetFunctional(KineticFunctional):
    '''T_s = T_vW + T_Pauli^KineticNet.  ``weights`` is a file (default: the shipped one) or a
    list of files, whose networks' mean Pauli energy is then used (:class:`KineticNetMean`);
    ``model`` may be passed directly (e.g. in tests); it is converted in place to float64 on
    ``device`` (so pass a copy of a model loaded for another device).'''
    vw_coeff = 1.0
    name = 'kineticnet'

    def __init__(self, weights=None, card=None, model=None, device=None):
        self.device = resolve_device(device)
        if model is not None:
            self.model = model.double().to(self.device).eval()
        elif card is not None:
            if isinstance(weights, (list, tuple)):
                raise ValueError('card= names the card of one weight file; with a list of '
                                 'files each is checked against its own card (FILE.json)')
            self.model = load_model(weights, card, self.device)
        else:
            self.model = load_mean_model(weights, self.device)
        self._cache = None

    @property
    def xctype(self):
        # a model that reads the density gradient needs (rho, grad rho) from the solver
        return 'GGA' if self.model.gradient else 'LDA'

    def check_mol(self, mol):
        if mol.has_ecp():
            # atom_charges() would then be the valence charges, not the elements
            raise ValueError('KineticNet is all-electron: molecules with ECPs are not supported')
        self.model.check_species(mol.atom_charges())

    def _tensor(self, x):
        return torch.as_tensor(np.asarray(x), dtype=torch.float64, device=self.device)

    def _grid_tensors(self, grid):
        # keyed by the grid object itself (an id() could be reused after the grid is freed)
        # with the network's grid-atom geometry, made once per grid instead of per evaluation
        if self._cache is None or self._cache[0] is not grid:
            t = self._tensor
            coords, pos = t(grid.coords), t(grid.mol.atom_coords())
            with torch.no_grad():
                geometry = self.model.geometry(coords, pos)
            self._cache = (grid, coords, t(grid.weights), pos,
                           torch.as_tensor(grid.mol.atom_charges(), device=self.device), geometry)
        return self._cache[1:]

    def energy_and_potential(self, rho, grid):
        gga = self.xctype == 'GGA'
        rho0 = rho[0] if rho.ndim == 2 else rho
        coords, w, pos, z, geometry = self._grid_tensors(grid)
        t = self._tensor
        r = t(np.maximum(rho0, 0)).requires_grad_()
        inputs = [r]
        sigma = None
        if gga:
            sigma = t(np.einsum('xg,xg->g', rho[1:4], rho[1:4])).requires_grad_()
            inputs.append(sigma)
        e = self.model(coords, w, r, pos, z, geometry, sigma=sigma)
        grads = torch.autograd.grad(e, inputs)
        # dE/drho_g = w_g * (partial derivative at r_g); points with w = 0 carry nothing
        wn = w.abs() > 1e-300

        def per_point(g):
            return torch.where(wn, g / torch.where(wn, w, torch.ones_like(w)),
                               torch.zeros_like(w)).detach().cpu().numpy()
        v = np.zeros_like(rho)
        if rho.ndim == 2:
            v[0] = per_point(grads[0])
        else:
            v[:] = per_point(grads[0])
        if gga:
            # d e / d grad rho = 2 (d e / d sigma) grad rho, used in weak form by the solver
            v[1:4] = 2 * per_point(grads[1]) * rho[1:4]
        return float(e.detach()), v
