from setuptools import find_packages, setup

setup(
    name='pyscf_ml',
    version='0.1.0',
    description='Machine-learned electronic structure for PySCF: neural XC functionals, '
                'learned Hamiltonian initial guesses and orbital-free DFT.',
    packages=find_packages(include=['pyscf_ml', 'pyscf_ml.*']),
    package_data={'pyscf_ml.weights': ['*.pt', '*.json']},
    python_requires='>=3.9',
    install_requires=[
        'pyscf>=2.14,<2.15',
        'torch>=2.1',
        'e3nn>=0.5',
        'numpy>=1.22',
        'scipy>=1.8',
    ],
    extras_require={
        # ase ships the G2/97 geometries and experimental thermochemistry (offline); it brings
        # matplotlib, which the G2 benchmark uses for its plot.
        'g2': ['ase>=3.22'],
        'test': ['pytest>=7', 'ase>=3.22'],
    },
)
