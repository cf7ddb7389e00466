'''Compose the shipped KineticNet card for stage 13A: the trainer's card plus the lineage.

Run from the repository root as `python benchmarks/results/kineticnet_stage13/compose_card.py`
after training into runs/kn13/A; it writes runs/kn13/A/kineticnet.ship.json, which was copied to
pyscf_ml/weights/kineticnet.json.
'''
import json
import subprocess

from pyscf_ml.modelcard import compose_shipped_card, lineage_entry

SRC = 'runs/kn13/A/kineticnet'
# 12A's shipped card (lineage 9A-11D in training_stages), as committed when 13A was trained
prev = json.loads(subprocess.check_output(
    ['git', 'show', '596fe95:pyscf_ml/weights/kineticnet.json']))
card = json.load(open(SRC + '.json'))
assert card['init']['sha256'] == prev['sha256'], 'stage 13A must start from the shipped 12A'

stages = prev['training_stages'] + [lineage_entry(prev, '12A')]
card_note = (f'trained with --weights {SRC}.pt and copied here (stage 13A, copy with '
             'card in benchmarks/results/kineticnet_stage13/A/); earlier stages of its '
             'lineage in training_stages')
notes = (
    'Stage 13A (benchmarks/results/ofdft_path.md, "Stage 13"): the shipped stage-12A model '
    'fine-tuned at lr 1e-4 on all 12A data plus one LiH path round (seeds 32, 33) and one H4 '
    'path round (seeds 34, 35), both from 12A\'s OF-DFT minima (made with '
    'benchmarks/results/kineticnet_stage12/A/kineticnet.pt = 12A). Lineage in '
    'training_stages; 12A\'s own notes: ' + prev['notes'] + ' Shipping rule of stage 13, '
    'fixed before its data: validation T_P MAE <= 1 kcal/mol for H2, HeH+, H3+; OF-DFT H2 0.8 '
    'and HeH+ 0.9 within 1 kcal/mol of KS; LiH at 1.45/1.75 A converged, mean |E_OF - E_KS| '
    'below 12A\'s (186.64) and neither more than 10 kcal/mol worse than 12A\'s '
    '(-152.20/-221.07); H4 validation T_P MAE at most 12A\'s + 1 (4.786) and OF-DFT at both H4 '
    'validation chains within 2 kcal/mol of 12A\'s |E_OF - E_KS| (6.27/0.25). Not a '
    'condition, and worse than 12A: validation LiH ground-state T_P MAE 5.63 (12A 3.98).')
card = compose_shipped_card(card, SRC + '.pt', stages, card_note, notes)
json.dump(card, open(SRC + '.ship.json', 'w'), indent=1)
print('card written', SRC + '.ship.json')
