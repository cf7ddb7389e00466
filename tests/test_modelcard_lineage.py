'''The shipped card of a fine-tuned model: the trainer's card plus the stages before it.'''
import json
import os
import subprocess

import pytest
from conftest import load_benchmark_script

from pyscf_ml.modelcard import LINEAGE_KEYS, compose_shipped_card, lineage_entry, sha256_of

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))


def _card(tag, sha):
    return {'command': f'train {tag}', 'commit': f'c{tag}', 'data': [f'{tag}.pt'],
            'init': None, 'metrics': {'mae': 1.0}, 'sha256': sha, 'config': {'big': tag},
            'notes': f'notes of {tag}'}


def test_lineage_entry_keeps_what_reruns_a_stage():
    entry = lineage_entry(_card('A', 'aa'), 'A')
    assert set(entry) == set(LINEAGE_KEYS) | {'stage'}
    assert entry['stage'] == 'A' and entry['sha256'] == 'aa' and entry['command'] == 'train A'
    with pytest.raises(KeyError):    # a card without its command cannot be a lineage entry
        lineage_entry({k: v for k, v in _card('A', 'aa').items() if k != 'command'}, 'A')


def test_compose_shipped_card(tmp_path):
    weights = tmp_path / 'w.pt'
    weights.write_bytes(b'weights of B')
    trainer = _card('B', 'stale')
    earlier = [lineage_entry(_card('A', 'aa'), 'A')]
    card = compose_shipped_card(trainer, str(weights), earlier, 'copied here', 'B after A')
    assert card['sha256'] == sha256_of(str(weights))           # of the file, not the trainer's
    assert [s['stage'] for s in card['training_stages']] == ['A']
    assert card['notes'] == 'B after A' and card['card_note'] == 'copied here'
    assert card['config'] == {'big': 'B'} and card['command'] == 'train B'
    assert trainer['sha256'] == 'stale' and 'training_stages' not in trainer   # not mutated


def _git_has(rev):
    try:
        return subprocess.run(['git', 'cat-file', '-e', rev + '^{commit}'], cwd=ROOT,
                              capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.mark.skipif(not _git_has('0df9632'), reason='needs the git history (13A\'s card)')
def test_shipped_kineticnet_card_is_composed_from_committed_files(tmp_path):
    '''The shipped card is what benchmarks/results/compose_kineticnet_card.py makes from the
    committed copy of the training run and the previous shipped card (its docstring's 16B
    command), so the lineage in it is derivable, not hand-edited.'''
    compose = load_benchmark_script('results/compose_kineticnet_card')
    r = os.path.join(ROOT, 'benchmarks', 'results')
    out = os.path.join(tmp_path, 'card.json')
    cwd = os.getcwd()
    os.chdir(ROOT)        # the card names its copy relative to the repository root
    try:
        compose.main(['--stage', '16B', '--copy', 'benchmarks/results/kineticnet_stage16/B',
                      '--previous', '0df9632:pyscf_ml/weights/kineticnet.json',
                      '--previous-stage', '13A', '--new-lineage',
                      '--earlier', os.path.join(r, 'kineticnet_stage14/B/kineticnet.json=14B'),
                      '--earlier', os.path.join(r, 'kineticnet_stage15/B/kineticnet.json=15B'),
                      '--notes', os.path.join(r, 'kineticnet_stage16', 'notes.txt'),
                      '--out', out])
    finally:
        os.chdir(cwd)
    with open(out) as f, open(os.path.join(ROOT, 'pyscf_ml', 'weights', 'kineticnet.json')) as g:
        assert json.load(f) == json.load(g)
