'''benchmarks/ofdft.py marks a molecule "not trained" from the shipped card's data commands
(its own and its earlier stages'), not from a hard-coded list.'''
import json
import os
import sys

import pytest
from conftest import BENCHMARKS, load_benchmark_script

sys.path.insert(0, BENCHMARKS)   # the script imports its sibling png_writer
ofdft_bench = load_benchmark_script('ofdft')


def test_molecules_of_data_command():
    read = ofdft_bench.molecules_of_data_command
    assert read('python -m pyscf_ml.data ofdft --molecules H4,HeH+ --out a.pt') == {'H4', 'HeH+'}
    assert read('python -m pyscf_ml.data ofdft-path --molecules=H4 --out b.pt') == {'H4'}
    # without --molecules a command draws its subcommand's default
    assert read('python -m pyscf_ml.data ofdft --out a.pt') == {'H2', 'HeH+', 'H3+', 'LiH'}
    assert read('python -m pyscf_ml.data ofdft-path --out b.pt') == {'LiH'}
    assert read('python -m pyscf_ml.data phisnet --molecule water') == set()
    with pytest.raises(ValueError, match='unreadable data command'):
        read('python -m pyscf_ml.data ofdft --out a.pt --molecules')


def test_trained_templates_reads_every_stage(tmp_path):
    card = {
        'data': ['python -m pyscf_ml.data ofdft --molecules H2,HeH+ --n-per-mol 8 --out a.pt',
                 'python -m pyscf_ml.data ofdft-path --molecules H4 --seed 3 --out b.pt'],
        'validation_data': ['python -m pyscf_ml.data ofdft --molecules He --out v.pt'],
        'training_stages': [
            {'data': 'python -m pyscf_ml.data ofdft --molecules LiH --out c.pt'},
            {'command': 'a stage without data'}],
    }
    path = os.path.join(tmp_path, 'card.json')
    with open(path, 'w') as f:
        json.dump(card, f)
    # validation data is not training data
    assert ofdft_bench.trained_templates(path) == {'H2', 'HeH+', 'H4', 'LiH'}


def test_mark_untrained():
    trained = {'H2', 'LiH'}
    assert ofdft_bench.mark_untrained('LiH', 'LiH', trained, ' *') == 'LiH'
    assert ofdft_bench.mark_untrained('H4 chain', 'H4', trained, ' *') == 'H4 chain *'
    assert ofdft_bench.mark_untrained('LiH2+', None, trained, ' *') == 'LiH2+ *'


def test_trained_templates_of_the_shipped_card():
    trained = ofdft_bench.trained_templates()
    # the shipped lineage trained on the two-electron molecules, LiH and (since stage 11) H4
    assert {'H2', 'HeH+', 'H3+', 'LiH', 'H4'} <= trained
    # He, the benchmark's untrained atom, has never been trained on
    assert 'He' not in trained
