'''G2/97 data from ase and the CCSD reference densities for SCF-in-the-loop training.

Golden De values (kcal/mol): ../shared/docs/xc-in-pyscf.md (H2O 232.58, NH3 297.99, NO 152.71,
CH4 420.18, O2 120.32), computed there from the same ase tables with the same formula.
'''
import numpy as np
import pytest

pytest.importorskip('ase')

from pyscf_ml.data import g2, xc_reference  # noqa: E402


@pytest.mark.parametrize('name,de', [('H2O', 232.58), ('NH3', 297.99), ('NO', 152.71),
                                     ('CH4', 420.18), ('O2', 120.32)])
def test_atomization_energy_golden(name, de):
    assert abs(g2.atomization_energy(name) - de) < 0.005


def test_g2_sets():
    g21, g22 = g2.molecule_names('g2-1'), g2.molecule_names('g2-2')
    assert (len(g21), len(g22), len(g2.molecule_names())) == (55, 93, 148)
    assert not set(g21) & set(g22)
    assert len(g2.atom_names()) == 14
    # every molecule's atoms are tabulated, and electron counts match the spins
    for name in g2.molecule_names():
        mol = g2.mole(name, 'sto-3g')
        assert set(g2.composition(name)) <= set(g2.atom_names())
        assert (mol.nelectron - mol.spin) % 2 == 0
    assert (g2.spin('O2'), g2.spin('NO'), g2.spin('H2O')) == (2, 1, 0)


def test_training_sets_exclude_g2_2():
    for molecules in xc_reference.TRAINING_SETS.values():
        assert all(g2.subset_of(m) == 'G2-1' for m in molecules)
    with pytest.raises(SystemExit, match='G2-2'):
        xc_reference.main(['--molecules', 'H2O,CF4', '--out', '/nonexistent/x.npz'])


def test_three_quarter_split_partitions_g2_1():
    '''g2-1-3of4 and its held-out quarter are disjoint, cover G2-1, and the quarter is what the
    trainer's --held-out rest selects for that set.'''
    from pyscf_ml.train.xc_scf import _held_out_names
    train = xc_reference.TRAINING_SETS['g2-1-3of4']
    quarter = xc_reference.G2_1_QUARTER
    assert not set(train) & set(quarter)
    assert sorted(train + quarter) == sorted(g2.molecule_names('G2-1'))
    assert len(quarter) == 14 and quarter[:3] == ['BeH', 'CH3', 'NH3']
    assert _held_out_names('rest', train) == quarter


@pytest.mark.parametrize('name', ['H2O', 'NO'])
def test_ccsd_density_electron_count(name):
    dm, e_hf, e_cc, mol = xc_reference.ccsd_density(name, 'sto-3g')
    s = mol.intor('int1e_ovlp')
    na, nb = mol.nelec
    assert abs(np.trace(dm[0] @ s) - na) < 1e-8 and abs(np.trace(dm[1] @ s) - nb) < 1e-8
    assert e_cc < e_hf   # correlation lowers the energy
