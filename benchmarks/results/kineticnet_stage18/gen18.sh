#!/bin/bash
# stage 18: 16B's recipe (one LiH + one H4 path round at lr 5e-4, then settled at lr 1e-4 with
# lih_extra16) applied to 17s1 and 17s2, side by side
cd /work/main
export OMP_NUM_THREADS=1
D=runs/ofdft_data
BASE=runs/ofdft_data/train.pt,runs/ofdft_data/lih_extra.pt,runs/ofdft_data/lih_path4.pt,runs/ofdft_data/heh_extra.pt,runs/ofdft_data/lih_path9.pt,runs/ofdft_data/heh_extra2.pt,runs/ofdft_data/lih_path10.pt,runs/ofdft_data/h4.pt,runs/ofdft_data/h4_path_a.pt,runs/ofdft_data/h4_path_b.pt,runs/ofdft_data/heh_extra3.pt,runs/ofdft_data/h4_path2a.pt,runs/ofdft_data/h4_path2b.pt,runs/ofdft_data/h3p_extra.pt,runs/ofdft_data/h2_extra.pt,runs/ofdft_data/h4_extra.pt,runs/ofdft_data/h4_path3a.pt,runs/ofdft_data/h4_path3b.pt,runs/ofdft_data/lih_path13a.pt,runs/ofdft_data/lih_path13b.pt,runs/ofdft_data/h4_path4a.pt,runs/ofdft_data/h4_path4b.pt
date -u
for m in s1 s2; do
  W=runs/kn17/$m/kineticnet.pt
  if [ $m = s1 ]; then L1=41; L2=42; H1=43; H2=44; else L1=45; L2=46; H1=47; H2=48; fi
  (python -m pyscf_ml.data ofdft-path --molecules LiH --n-per-mol 20 --seed $L1 --weights $W --no-gradient-labels --out $D/lih_path18${m}a.pt > $D/lih_path18${m}a.pt.log 2>&1
   python -m pyscf_ml.data ofdft-path --molecules LiH --n-per-mol 20 --seed $L2 --weights $W --no-gradient-labels --out $D/lih_path18${m}b.pt > $D/lih_path18${m}b.pt.log 2>&1
   python -m pyscf_ml.data ofdft-path --molecules H4 --n-per-mol 20 --seed $H1 --weights $W --no-gradient-labels --out $D/h4_path18${m}a.pt > $D/h4_path18${m}a.pt.log 2>&1
   python -m pyscf_ml.data ofdft-path --molecules H4 --n-per-mol 20 --seed $H2 --weights $W --no-gradient-labels --out $D/h4_path18${m}b.pt > $D/h4_path18${m}b.pt.log 2>&1) &
done
wait
date -u
echo data done
for m in s1 s2; do
  P=$D/lih_path18${m}a.pt,$D/lih_path18${m}b.pt,$D/h4_path18${m}a.pt,$D/h4_path18${m}b.pt
  (python -m pyscf_ml.train kineticnet --data $BASE,$P --val $D/val.pt,$D/lih_path_val.pt,$D/val_h4.pt --init runs/kn17/$m/kineticnet.pt --path-rel 0.05 --lr 5e-4 --epochs 4 --test $D/test.pt --out runs/kn18/${m}_15 --weights runs/kn18/${m}_15/kineticnet.pt > runs/kn18_${m}_15.log 2>&1
   python -m pyscf_ml.train kineticnet --data $BASE,$P,$D/lih_extra16.pt --val $D/val.pt,$D/lih_path_val.pt,$D/val_h4.pt --init runs/kn18/${m}_15/kineticnet.pt --path-rel 0.05 --lr 1e-4 --epochs 4 --test $D/test.pt --out runs/kn18/${m}_16 --weights runs/kn18/${m}_16/kineticnet.pt > runs/kn18_${m}_16.log 2>&1) &
done
wait
date -u
echo trained
mkdir -p runs/s18
python benchmarks/kineticnet_validation.py --data $D/val.pt,$D/lih_path_val.pt,$D/val_h4.pt --weights stage17s1=runs/kn17/s1/kineticnet.pt s1_15=runs/kn18/s1_15/kineticnet.pt s1_16=runs/kn18/s1_16/kineticnet.pt stage17s2=runs/kn17/s2/kineticnet.pt s2_15=runs/kn18/s2_15/kineticnet.pt s2_16=runs/kn18/s2_16/kineticnet.pt > runs/s18/validation.md 2> runs/s18/validation.err &
python benchmarks/ofdft_path.py --data $D/lih_path_val.pt --weights s1_15=runs/kn18/s1_15/kineticnet.pt s1_16=runs/kn18/s1_16/kineticnet.pt --out runs/s18/ofdft_path_s1.md > runs/s18/ofdft_path_s1.log 2>&1 &
python benchmarks/ofdft_path.py --data $D/lih_path_val.pt --weights s2_15=runs/kn18/s2_15/kineticnet.pt s2_16=runs/kn18/s2_16/kineticnet.pt --out runs/s18/ofdft_path_s2.md > runs/s18/ofdft_path_s2.log 2>&1 &
wait
date -u
echo evaluated
