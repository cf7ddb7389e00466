'''More H/C/N/O molecules from the structures ``ase`` ships (no download): the monomers of the
S22 complexes (Jurečka et al., Phys. Chem. Chem. Phys. 8, 1985 (2006); MP2 or CCSD(T)
geometries of the complexes) and two molecules of ``ase.data.extra_molecules``.

Only molecules that the built-in and G2/97 sets of ``pyscf_ml.data.phisnet`` lack are listed;
formamide (a held-out molecule of the transferable model) and uracil (a per-molecule model's
own test molecule) are left out on purpose.  ``ase`` is the optional dependency of
``pip install -e '.[g2]'``.
'''

# name -> (S22 complex, which monomer: 0 first, 1 second in ase's 'dimer atoms' order)
S22_MONOMERS = {
    '2-pyridoxine': ('2-pyridoxine_2-aminopyridine_complex', 0),
    '2-aminopyridine': ('2-pyridoxine_2-aminopyridine_complex', 1),
    'adenine': ('Adenine-thymine_Watson-Crick_complex', 0),
    'thymine': ('Adenine-thymine_Watson-Crick_complex', 1),
    'pyrazine': ('Pyrazine_dimer', 0),
    'indole': ('Indole-benzene_complex_stack', 1),
    'phenol': ('Phenol_dimer', 0),
}
# name -> key of ase.data.extra_molecules
EXTRA_MOLECULES = {
    'benzonitrile': 'C7NH5',
    'p-phenylenediamine': 'BDA',   # benzene-1,4-diamine
}
NAMES = sorted(S22_MONOMERS) + sorted(EXTRA_MOLECULES)


def _ase():
    try:
        import ase
        from ase.data import extra_molecules, s22
    except ImportError as err:   # pragma: no cover - exercised only without the extra
        raise ImportError("these structures come from the optional dependency ase: "
                          "pip install -e '.[g2]'") from err
    return ase, s22, extra_molecules


def symbols_positions(name):
    '''Element symbols and positions (Angstrom) of one molecule of ``NAMES``.'''
    ase, s22, extra = _ase()
    if name in S22_MONOMERS:
        complex_name, which = S22_MONOMERS[name]
        entry = s22.data[complex_name]
        atoms = ase.Atoms(entry['symbols'], entry['positions'])
        n_first = entry['dimer atoms'][0]
        atoms = atoms[:n_first] if which == 0 else atoms[n_first:]
    elif name in EXTRA_MOLECULES:
        entry = extra.data[EXTRA_MOLECULES[name]]
        atoms = ase.Atoms(entry['symbols'], entry['positions'])
    else:
        raise ValueError(f'{name!r} is not one of the ase molecules {NAMES}')
    return atoms.get_chemical_symbols(), atoms.get_positions()


def atom_string(name):
    '''PySCF atom specification (Angstrom).'''
    symbols, positions = symbols_positions(name)
    return '; '.join(f'{s} {x:.6f} {y:.6f} {z:.6f}' for s, (x, y, z) in zip(symbols, positions))
