'''Orbital-free DFT: ``OFDFT(mol, kinetic=..., xc=...)`` with classical kinetic functionals
('tf', 'vw', 'tf+vw', 'tf+1/9vw') and the learned 'kineticnet' (T_vW + learned Pauli term).'''
from pyscf_ml.ofdft.kinetic import KineticFunctional, GridData, parse as parse_kinetic  # noqa
from pyscf_ml.ofdft.solver import OFDFT, OFDFTWarning  # noqa: F401
