'''The shipped card of a fine-tuned model: the trainer's card plus the stages before it.'''
import pytest

from pyscf_ml.modelcard import LINEAGE_KEYS, compose_shipped_card, lineage_entry, sha256_of


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
