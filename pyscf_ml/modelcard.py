'''Model cards: small JSON files that describe a shipped weight file.

A card records the functional form or architecture, the data and command that produced the
weights, the commit of the training code, metrics and the sha256 of the weight file.  Loading
code checks the sha256 so that a corrupt or swapped file is reported by name.
'''
import hashlib
import json
import os
import subprocess


class WeightFileError(RuntimeError):
    '''A weight file is missing, unreadable or does not match its model card.'''


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def git_commit(path=None):
    '''Commit hash of the repository holding ``path`` (the training code), or 'unknown'.'''
    cwd = os.path.dirname(os.path.abspath(path or __file__))
    try:
        out = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=cwd, capture_output=True,
                             text=True, timeout=10)
        commit = out.stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'],
                               cwd=cwd, capture_output=True, text=True, timeout=10).stdout.strip()
        if commit:
            return commit + ('+dirty' if dirty else '')
    except (OSError, subprocess.SubprocessError):
        pass
    return 'unknown'


def write_card(card_path, weights_path, **fields):
    '''Write a card for ``weights_path``; the sha256 and file name are filled in here.'''
    card = dict(fields)
    card['weights_file'] = os.path.basename(weights_path)
    card['sha256'] = sha256_of(weights_path)
    with open(card_path, 'w') as f:
        json.dump(card, f, indent=2, sort_keys=True)
        f.write('\n')
    return card


def read_card(card_path):
    try:
        with open(card_path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise WeightFileError(f'model card {card_path} not found') from None
    except (OSError, ValueError) as e:
        raise WeightFileError(f'model card {card_path} is unreadable: {e}') from None


def verify_weights(weights_path, card):
    '''Raise WeightFileError naming ``weights_path`` if it is missing or its sha256 differs.'''
    if not os.path.isfile(weights_path):
        raise WeightFileError(f'weight file {weights_path} not found')
    expected = card.get('sha256')
    if expected and sha256_of(weights_path) != expected:
        raise WeightFileError(f'weight file {weights_path} is corrupt: sha256 does not match '
                              f'its model card')


def update_card(card_path, **fields):
    '''Add or replace fields of an existing card (e.g. benchmark figures measured after
    training); the weights' sha256 is left as it is.'''
    card = read_card(card_path)
    card.update(fields)
    with open(card_path, 'w') as f:
        json.dump(card, f, indent=2, sort_keys=True)
        f.write('\n')
    return card


# What a ``training_stages`` entry keeps of an earlier stage's card: enough to rerun that stage.
LINEAGE_KEYS = ('command', 'commit', 'data', 'init', 'metrics', 'sha256')


def lineage_entry(card, stage):
    '''The ``training_stages`` entry for an earlier stage, named ``stage``, from its card.'''
    return {k: card[k] for k in LINEAGE_KEYS} | {'stage': stage}


def compose_shipped_card(trainer_card, weights_path, training_stages, card_note, notes):
    '''The card to ship for a fine-tuned model: the trainer's own card plus the stages before
    it (earliest first), a note on where the file came from, and the sha256 of the weights.'''
    card = dict(trainer_card)
    card['training_stages'] = list(training_stages)
    card['card_note'] = card_note
    card['notes'] = notes
    card['sha256'] = sha256_of(weights_path)
    return card
