'''pyscf_ml: machine-learned electronic structure that drops into PySCF.

``import pyscf_ml`` registers the learned XC functionals (``mf.xc = 'nn-gga'`` ...), the learned
initial guess (``mf.init_guess = 'phisnet'``) and makes :mod:`pyscf_ml.ofdft` available.
'''
__version__ = '0.1.0'

from pyscf_ml.device import get_device, set_device  # noqa: F401
from pyscf_ml import xc  # noqa: F401  (registers the nn-* names with PySCF)
from pyscf_ml import ofdft  # noqa: F401  (pyscf_ml.ofdft.OFDFT)
from pyscf_ml import guess  # noqa: F401  (mf.init_guess = 'phisnet')
from pyscf_ml.guess import predict as phisnet  # noqa: F401  (the prediction itself)
