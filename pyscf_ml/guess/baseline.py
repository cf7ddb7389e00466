'''The physics baseline under the learned correction: F0 = Hcore + V_SAP.

The model predicts F - F0, not F.  F0 (kinetic + nuclear attraction + a superposition of
screened atomic potentials, doi:10.1021/acs.jctc.8b01089) costs only one-electron integrals
(milliseconds), is exactly rotation-covariant, and leaves a residual about 5x smaller than F
itself and free of the large core terms (water: mean |F| 0.24 Ha, mean |F - F0| 0.05 Ha), which
is what makes training to sub-mHa errors feasible on a CPU.
'''
import numpy
from pyscf import scf
from pyscf.gto.basis import load

SAP_BASIS = 'sapgrasplarge'   # PySCF's default for init_guess='sap'


def sap_potential(mol, sap_basis=SAP_BASIS):
    '''V_SAP in mol's AO basis (PySCF's Gaussian fit of the SAP potentials).'''
    basis = {}
    for a, (label, _) in enumerate(mol._atom):
        if label not in basis:
            exps = load(sap_basis, mol.atom_pure_symbol(a))[0][1:]
            basis[label] = numpy.asarray(exps, dtype=float)
    return scf.hf.make_sap(mol, basis)


def baseline_fock(mol):
    '''F0 = Hcore + V_SAP for a molecule (Hartree, PySCF AO order).'''
    return scf.hf.get_hcore(mol) + sap_potential(mol)
