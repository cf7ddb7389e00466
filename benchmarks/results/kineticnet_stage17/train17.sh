#!/bin/bash
# stage 17: 14B's command with seeds 1 and 2, side by side
cd /work/main
date -u
for s in 1 2; do
  python -m pyscf_ml.train kineticnet --data runs/ofdft_data/train.pt,runs/ofdft_data/lih_extra.pt,runs/ofdft_data/lih_path4.pt,runs/ofdft_data/heh_extra.pt,runs/ofdft_data/lih_path9.pt,runs/ofdft_data/heh_extra2.pt,runs/ofdft_data/lih_path10.pt,runs/ofdft_data/h4.pt,runs/ofdft_data/h4_path_a.pt,runs/ofdft_data/h4_path_b.pt,runs/ofdft_data/heh_extra3.pt,runs/ofdft_data/h4_path2a.pt,runs/ofdft_data/h4_path2b.pt,runs/ofdft_data/h3p_extra.pt,runs/ofdft_data/h2_extra.pt,runs/ofdft_data/h4_extra.pt,runs/ofdft_data/h4_path3a.pt,runs/ofdft_data/h4_path3b.pt,runs/ofdft_data/lih_path13a.pt,runs/ofdft_data/lih_path13b.pt,runs/ofdft_data/h4_path4a.pt,runs/ofdft_data/h4_path4b.pt --val runs/ofdft_data/val.pt,runs/ofdft_data/lih_path_val.pt,runs/ofdft_data/val_h4.pt --hidden 48 --mul 10 --epochs 12 --path-rel 0.05 --test runs/ofdft_data/test.pt --seed $s --out runs/kn17/s$s --weights runs/kn17/s$s/kineticnet.pt  > runs/kn17_s$s.log 2>&1 &
done
wait
date -u
echo trained
