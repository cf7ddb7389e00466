'''Learned XC functionals usable as PySCF names: ``mf.xc = 'nn-lsda' | 'nn-gga' |
'nn-metagga' | 'nn-nra'`` (Nagai, Akashi & Sugino, npj Comput. Mater. 6, 43 (2020)).

Importing this package registers the shipped functionals and hooks them into PySCF.
'''
from pyscf_ml.xc.forms import FORMS, NagaiMLP  # noqa: F401
from pyscf_ml.xc.functional import NNFunctional, NonFiniteXCError, TorchFunctional  # noqa: F401
from pyscf_ml.xc.registry import (lookup, register, register_functional,  # noqa: F401
                                  registered_names, unregister, UnknownFunctionalError)
from pyscf_ml.xc import pyscf_hooks, registry as _registry

_registry.register_shipped()
pyscf_hooks.install()
