'''pyscf_ml: machine-learned electronic structure that drops into PySCF.

``import pyscf_ml`` registers the learned XC functionals (``mf.xc = 'nn-gga'`` ...), the learned
initial guess (``mf.init_guess = 'phisnet'``) and makes :mod:`pyscf_ml.ofdft` available.
'''
__version__ = '0.1.0'

# importing each subpackage installs its PySCF hooks; the order does not matter
from pyscf_ml import (
    guess,  # noqa: F401  (mf.init_guess = 'phisnet')
    ofdft,  # noqa: F401  (pyscf_ml.ofdft.OFDFT)
    xc,  # noqa: F401  (registers the nn-* names with PySCF)
)
from pyscf_ml.device import get_device, set_device  # noqa: F401
from pyscf_ml.guess import predict as phisnet  # noqa: F401  (the prediction itself)
