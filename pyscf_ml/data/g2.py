'''The G2/97 thermochemistry set as shipped by ``ase``: geometries, spins and experimental
electronic atomization energies.

G2-1 (55 molecules) and G2-2 (93 molecules) as tabulated by ``ase.data.g2_1`` / ``g2_2``
(Curtiss et al., J. Chem. Phys. 106, 1063 (1997); MP2/6-31G(d) geometries).  The electronic
atomization energy, from the experimental heat of formation at 298 K, the zero-point energy and
the thermal corrections:

    De = -dfH298(mol) + ZPE(mol) + [H298-H0](mol) + sum_atoms (dfH0(atom) - [H298-H0](atom))

(ase tabulates dfH at 0 K for the atoms and at 298 K for the molecules.)  All quantities are in
kcal/mol.  ``ase`` is an optional dependency (``pip install -e '.[g2]'``): it is the only offline
source of these data that we know of.
'''
from collections import Counter

HARTREE_TO_KCAL = 627.509474   # CODATA 2018, as pyscf.data.nist


def _tables():
    try:
        from ase.data import g2_1, g2_2
    except ImportError as err:   # pragma: no cover - exercised only without the extra
        raise ImportError('the G2/97 data come from the optional dependency ase: '
                          "pip install -e '.[g2]'") from err
    return g2_1, g2_2


def molecule_names(subset='all'):
    '''Names of the G2/97 molecules, in ase's order: ``'g2-1'`` (55), ``'g2-2'`` (93) or
    ``'all'`` (148).'''
    g2_1, g2_2 = _tables()
    subset = subset.lower()
    if subset == 'g2-1':
        return list(g2_1.molecule_names)
    if subset == 'g2-2':
        return list(g2_2.molecule_names)
    if subset == 'all':
        return list(g2_1.molecule_names) + list(g2_2.molecule_names)
    raise ValueError(f"unknown G2 subset {subset!r}: use 'g2-1', 'g2-2' or 'all'")


def atom_names():
    '''The 14 atoms of G2/97 (H Li Be B C N O F Na Al Si P S Cl).'''
    g2_1, g2_2 = _tables()
    return sorted(set(g2_1.atom_names) | set(g2_2.atom_names))


def subset_of(name):
    '''``'G2-1'`` or ``'G2-2'`` for a molecule of the set.'''
    g2_1, g2_2 = _tables()
    if name in g2_1.molecule_names:
        return 'G2-1'
    if name in g2_2.molecule_names:
        return 'G2-2'
    raise KeyError(f'{name!r} is not a G2/97 molecule')


def entry(name):
    '''ase's record of a molecule or an atom.'''
    g2_1, g2_2 = _tables()
    for table in (g2_1, g2_2):
        if name in table.data:
            return table.data[name]
    raise KeyError(f'{name!r} is not in ase\'s G2/97 data')


def composition(name):
    '''Atom counts of a molecule, e.g. {'O': 1, 'H': 2}.'''
    return Counter(composition_order(name))


def spin(name):
    '''2S (number of unpaired electrons) from ase's initial magnetic moments.'''
    magmoms = entry(name)['magmoms']
    return int(round(sum(magmoms))) if magmoms else 0


def atom_string(name):
    '''PySCF atom specification (Angstrom).'''
    e = entry(name)
    syms = list(composition_order(name))
    return '; '.join(f'{s} {x:.6f} {y:.6f} {z:.6f}' for s, (x, y, z) in zip(syms, e['positions']))


def composition_order(name):
    '''Element symbols in the order of the positions.'''
    symbols = entry(name)['symbols']
    out = []
    for ch in symbols:
        if ch.isupper():
            out.append(ch)
        else:
            out[-1] += ch
    return out


def mole(name, basis, **kwargs):
    '''A built ``gto.Mole`` of a G2/97 molecule or atom.'''
    from pyscf import gto
    return gto.M(atom=atom_string(name), basis=basis, spin=spin(name), unit='Angstrom',
                 **{'verbose': 0, **kwargs})


def atomization_energy(name):
    '''Experimental electronic atomization energy De (kcal/mol), the formula above.'''
    e = entry(name)
    de = -e['enthalpy'] + e['ZPE'] + e['thermal correction']
    for atom, count in composition(name).items():
        a = entry(atom)
        de += count * (a['enthalpy'] - a['thermal correction'])
    return de
