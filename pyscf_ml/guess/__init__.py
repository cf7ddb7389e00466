'''Learned Hamiltonians as SCF initial guesses (``mf.init_guess = 'phisnet'``).

Importing this package installs the init-guess key (idempotent; every other key is unchanged):

>>> import pyscf_ml.guess
>>> mf = dft.RKS(mol, xc='pbe'); mf.init_guess = 'phisnet'; mf.kernel()

``'phisnet'`` uses the transferable H/C/N/O model; ``'phisnet:<name>'`` a shipped one
(:func:`shipped_models`), ``'phisnet:/path/to/weights.pt'`` your own.  The prediction itself:
:func:`fock` (Fock matrix in mol's basis), :func:`orbitals` (plus orbital energies, coefficients,
occupations and density matrix); both in :mod:`pyscf_ml.guess.predict`.

Modules: ``ao_order`` (PySCF AO order vs e3nn), ``model`` (the e3nn network, no PySCF),
``baseline`` (Hcore + V_SAP under the learned correction), ``predict`` (public API),
``hook`` (the init-guess key).
'''
from pyscf_ml.guess.hook import init_guess_by_phisnet, install, is_installed, uninstall  # noqa
from pyscf_ml.guess.predict import (Predictor, fock, load_model, orbitals,  # noqa: F401
                                    shipped_models)

install()
