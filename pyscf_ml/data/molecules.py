'''Small-molecule geometries (Angstrom) and spins used to make training data.

All molecules are in G2-1 (or are atoms): the G2-2 set stays a clean test set.  (H2 is not
here: ase's G2/97 tables put it in G2-2.)
Geometries are standard experimental / MP2 structures rounded to 4 decimals.
'''
SYSTEMS = {
    # name: (atom string, 2S)
    'LiH': ('Li 0 0 0; H 0 0 1.5949', 0),
    'CH4': ('C 0 0 0; H 0.6276 0.6276 0.6276; H -0.6276 -0.6276 0.6276; '
            'H -0.6276 0.6276 -0.6276; H 0.6276 -0.6276 -0.6276', 0),
    'NH3': ('N 0 0 0.1162; H 0 0.9397 -0.2711; H 0.8138 -0.4699 -0.2711; '
            'H -0.8138 -0.4699 -0.2711', 0),
    'H2O': ('O 0 0 0.1173; H 0 0.7572 -0.4692; H 0 -0.7572 -0.4692', 0),
    'HF': ('F 0 0 0; H 0 0 0.9168', 0),
    'N2': ('N 0 0 0; N 0 0 1.0977', 0),
    'CO': ('C 0 0 0; O 0 0 1.1283', 0),
    'C2H2': ('C 0 0 0.6013; C 0 0 -0.6013; H 0 0 1.6644; H 0 0 -1.6644', 0),
    'O2': ('O 0 0 0; O 0 0 1.2075', 2),
    'NO': ('N 0 0 0; O 0 0 1.1508', 1),
    'OH': ('O 0 0 0; H 0 0 0.9697', 1),
    'CH3': ('C 0 0 0; H 0 1.0790 0; H 0.9344 -0.5395 0; H -0.9344 -0.5395 0', 1),
    'H': ('H 0 0 0', 1),
    'Li': ('Li 0 0 0', 1),
    'C': ('C 0 0 0', 2),
    'N': ('N 0 0 0', 3),
    'O': ('O 0 0 0', 2),
    'F': ('F 0 0 0', 1),
}
