'''Reference-data generation with PySCF (command line: ``python -m pyscf_ml.data``).'''
