'''benchmarks/ofdft.py marks a molecule "not trained" from the shipped card's data commands
(its own and its earlier stages'), not from a hard-coded list.'''
import json
import os
import sys

from conftest import BENCHMARKS, load_benchmark_script

sys.path.insert(0, BENCHMARKS)   # the script imports its sibling png_writer
ofdft_bench = load_benchmark_script('ofdft')


def test_trained_templates_reads_every_stage(tmp_path):
    card = {
        'data': ['python -m pyscf_ml.data ofdft --molecules H2,HeH+ --n-per-mol 8 --out a.pt',
                 'python -m pyscf_ml.data ofdft-path --molecules H4 --seed 3 --out b.pt'],
        'training_stages': [
            {'data': ['python -m pyscf_ml.data ofdft --molecules LiH --out c.pt']},
            {'command': 'a stage without data'}],
    }
    path = os.path.join(tmp_path, 'card.json')
    with open(path, 'w') as f:
        json.dump(card, f)
    assert ofdft_bench.trained_templates(path) == {'H2', 'HeH+', 'H4', 'LiH'}


def test_trained_templates_of_the_shipped_card():
    trained = ofdft_bench.trained_templates()
    # every shipped stage trained on the two-electron molecules and LiH
    assert {'H2', 'HeH+', 'H3+', 'LiH'} <= trained
    # He, the benchmark's untrained atom, has never been trained on
    assert 'He' not in trained
