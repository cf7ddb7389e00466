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


@pytest.fixture(scope='session')
def phisnet_test_weights(tmp_path_factory):
    '''A small random H/O Hamiltonian model saved like the training CLI saves one, with a card.

    Its parameters are perturbed away from the initialisation: the readouts start at zero, and
    an all-zero correction would make the 'learned' guess PySCF's own SAP-like baseline, so a
    test of the hook could not tell whether the network was used at all.'''
    from pyscf_ml.guess.model import HamiltonianModel
    from pyscf_ml.modelcard import write_card
    torch.manual_seed(0)
    model = HamiltonianModel({1: [0, 0, 1], 8: [0, 0, 0, 1, 1, 2]}, mul=4, num_layers=1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    path = str(tmp_path_factory.mktemp('w') / 'phisnet_test.pt')
    torch.save(dict(config=model.config, state_dict=model.state_dict(), basis='def2-svp'), path)
    write_card(path[:-3] + '.json', path, name='test')
    return path
