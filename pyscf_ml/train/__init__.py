'''Training loops (command line: ``python -m pyscf_ml.train``).'''
