import importlib.util
import os

import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

SHARED = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', 'shared'))
NAGAI_DIR = os.path.join(SHARED, 'reference', 'nagai2020')
BENCHMARKS = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', 'benchmarks'))


def load_benchmark_script(name):
    '''benchmarks/<name>.py as a module (the scripts are not part of the package).'''
    spec = importlib.util.spec_from_file_location(name, os.path.join(BENCHMARKS, name + '.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def nagai_dir():
    '''Directory of the published Nagai 2020 weights (tests only; skip when absent).'''
    if not os.path.isdir(NAGAI_DIR):
        pytest.skip(f'published reference weights not found at {NAGAI_DIR}')
    return NAGAI_DIR


requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
