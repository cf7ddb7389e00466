'''Learned XC functionals usable as PySCF names: ``mf.xc = 'nn-lsda' | 'nn-gga' |
'nn-metagga' | 'nn-nra'`` (Nagai, Akashi & Sugino, npj Comput. Mater. 6, 43 (2020)).

Importing this package registers the shipped functionals and hooks them into PySCF.
'''
from pyscf_ml.xc import pyscf_hooks
from pyscf_ml.xc import registry as _registry
from pyscf_ml.xc.forms import FORMS, NagaiMLP  # noqa: F401
from pyscf_ml.xc.functional import NNFunctional, NonFiniteXCError, TorchFunctional  # noqa: F401
from pyscf_ml.xc.registry import (  # noqa: F401
    MixedFunctionalError,
    UnknownFunctionalError,
    lookup,
    register,
    register_functional,
    registered_names,
    unregister,
)

_registry.register_shipped()
pyscf_hooks.install()
