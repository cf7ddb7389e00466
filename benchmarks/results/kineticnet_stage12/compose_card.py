'''Compose the shipped KineticNet card for stage 12A: the trainer's card plus the lineage.

Run from the repository root as `python benchmarks/results/kineticnet_stage12/compose_card.py`
after training into runs/kn12/A; it writes runs/kn12/A/kineticnet.ship.json, which was copied to
pyscf_ml/weights/kineticnet.json.
'''
import json
import subprocess

from pyscf_ml.modelcard import compose_shipped_card, lineage_entry

SRC = 'runs/kn12/A/kineticnet'
# 11D's shipped card (lineage 9A-11C in training_stages), as committed when 12A was trained
prev = json.loads(subprocess.check_output(
    ['git', 'show', '88525ea:pyscf_ml/weights/kineticnet.json']))
card = json.load(open(SRC + '.json'))
assert card['init']['sha256'] == prev['sha256'], 'stage 12A must start from the shipped 11D'

stages = prev['training_stages'] + [lineage_entry(prev, '11D')]
card_note = (f'trained with --weights {SRC}.pt and copied here (stage 12A, copy with '
             'card in benchmarks/results/kineticnet_stage12/A/); earlier stages of its '
             'lineage in training_stages')
notes = (
    'Stage 12A (benchmarks/results/ofdft_path.md, "Stage 12"): the shipped stage-11D model '
    'fine-tuned at lr 1e-4 on all 11D data plus 80 H4 ground states under random potentials '
    '(seed 31) and a third H4 path round, from 11D\'s OF-DFT minima (seeds 29, 30). Lineage '
    'in training_stages; 11D\'s own notes: ' + prev['notes'] + ' Shipping rule of stage 12, '
    'fixed before its data: validation T_P MAE <= 1 kcal/mol for H2, HeH+, H3+; OF-DFT H2 0.8 '
    'and HeH+ 0.9 within 1 kcal/mol of KS; LiH at 1.45/1.75 A converged and collapsing at most '
    '10 kcal/mol more than 11D (-156.8/-216.4); H4 validation T_P MAE below 11D\'s 4.45 and '
    'OF-DFT at both H4 validation chains closer to KS than 11D (7.7/2.7 kcal/mol). The third '
    'H4 round (h4_path3a/b) was made with benchmarks/results/kineticnet_stage11/D/kineticnet.pt '
    '(= 11D).')
card = compose_shipped_card(card, SRC + '.pt', stages, card_note, notes)
json.dump(card, open(SRC + '.ship.json', 'w'), indent=1)
print('card written', SRC + '.ship.json')
