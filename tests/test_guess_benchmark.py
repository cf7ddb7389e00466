'''benchmarks/init_guess.py measures what it says: the phisnet row's Fock and orbital-energy
errors are those of the prediction API, and every guess reaches the same SCF energy.'''
import os
import sys

import numpy as np
import scipy.linalg
from conftest import load_benchmark_script
from pyscf import gto

from pyscf_ml.data.phisnet import fock_label
from pyscf_ml.guess import predict

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'benchmarks'))  # png_writer

WATER = 'O 0 0 0.12; H 0 0.76 -0.47; H 0 -0.76 -0.47'


def test_run_sample_rows_match_the_prediction_api(phisnet_test_weights):
    bench = load_benchmark_script('init_guess')
    mol = gto.M(atom=WATER, basis='def2-svp', verbose=0)
    f_ref = fock_label(mol)[0]['fock']
    sample = dict(name='water', Z=mol.atom_charges(), pos=mol.atom_coords(), fock=f_ref)
    rows = bench.run_sample(sample, phisnet_test_weights, 1e-9, keys=['phisnet', 'minao'])
    s = mol.intor_symmetric('int1e_ovlp')
    nocc = mol.nelectron // 2
    f_raw = predict.fock(mol, phisnet_test_weights, lindep_threshold=0)
    assert np.isclose(rows['phisnet']['fock_mae_uHa'], np.abs(f_raw - f_ref).mean() * 1e6,
                      rtol=1e-10)
    e_ref = scipy.linalg.eigh(f_ref, s, eigvals_only=True)[:nocc]
    e = scipy.linalg.eigh(predict.fock(mol, phisnet_test_weights), s, eigvals_only=True)[:nocc]
    assert np.isclose(rows['phisnet']['occ_e_mae_mHa'], np.abs(e - e_ref).mean() * 1e3,
                      rtol=1e-10)
    # the random test model is far from MINAO's error: the rows are not each other's
    assert abs(rows['phisnet']['fock_mae_uHa'] - rows['minao']['fock_mae_uHa']) > 100
    for key in ('phisnet', 'minao'):
        assert rows[key]['converged']
    assert abs(rows['phisnet']['e_tot'] - rows['minao']['e_tot']) < 1e-7
    assert rows['inference_s'] > 0 and rows['scf_cycle_s'] > 0
