'''Shipped weights and their model cards (JSON).  Every file here was produced by the
training code in :mod:`pyscf_ml.train`; each card names the command and commit.'''
import os

WEIGHTS_DIR = os.path.dirname(os.path.abspath(__file__))


def path(filename):
    '''Absolute path of a shipped weight or card file.'''
    return os.path.join(WEIGHTS_DIR, filename)
