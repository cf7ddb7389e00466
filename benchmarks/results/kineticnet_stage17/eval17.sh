#!/bin/bash
# stage 17 evaluation: validation T_P of all six, then OF-DFT at the validation geometries for
# 17s1, 17s2 (one process) and E3, E16 (one each) side by side
cd /work/main
while ! grep -q '^trained' runs/train17.log 2>/dev/null; do sleep 10; done
mkdir -p runs/s17
D=runs/ofdft_data
B14=benchmarks/results/kineticnet_stage14/B/kineticnet.pt
B16=pyscf_ml/weights/kineticnet.pt
S1=runs/kn17/s1/kineticnet.pt
S2=runs/kn17/s2/kineticnet.pt
date -u
python benchmarks/ofdft_path.py --data $D/lih_path_val.pt --weights E3=$B14+$S1+$S2 --out runs/s17/ofdft_path_E3.md > runs/s17/ofdft_path_E3.log 2>&1 &
python benchmarks/ofdft_path.py --data $D/lih_path_val.pt --weights E16=$B16+$S1+$S2 --out runs/s17/ofdft_path_E16.md > runs/s17/ofdft_path_E16.log 2>&1 &
wait
date -u
python benchmarks/kineticnet_validation.py --data $D/val.pt,$D/lih_path_val.pt,$D/val_h4.pt --weights stage14B=$B14 stage17s1=$S1 stage17s2=$S2 E3=$B14+$S1+$S2 E16=$B16+$S1+$S2 shipped16B=$B16 > runs/s17/validation.md 2> runs/s17/validation.err &
python benchmarks/ofdft_path.py --data $D/lih_path_val.pt --weights stage17s1=$S1 stage17s2=$S2 --out runs/s17/ofdft_path_s.md > runs/s17/ofdft_path_s.log 2>&1 &
wait
date -u
echo evaluated
