'''PBE written in torch, as a check of the learned-functional integrator.

Run through exactly the same path as the networks (autograd derivatives, eff layout, whole
PySCF integration), it must reproduce libxc's PBE: any disagreement is an integrator bug, not a
network property.  Exchange: Perdew, Burke, Ernzerhof, PRL 77, 3865 (1996) with spin scaling;
correlation: Perdew & Wang, PRB 45, 13244 (1992) with the parameters libxc uses for PBE
(lda_c_pw_mod), plus the PBE gradient correction H.
'''
import math

import torch

from pyscf_ml.xc.functional import TorchFunctional

KAPPA = 0.804
BETA = 0.06672455060314922
MU = BETA * math.pi ** 2 / 3
GAMMA = (1 - math.log(2)) / math.pi ** 2
FZ20 = 1.709920934161365617563962776245
# PW92 G(rs) parameters (A, alpha1, beta1..beta4): unpolarised, polarised, -alpha_c
PW_PARAMS = ((0.0310907, 0.21370, 7.5957, 3.5876, 1.6382, 0.49294),
             (0.01554535, 0.20548, 14.1189, 6.1977, 3.3662, 0.62517),
             (0.0168869, 0.11125, 10.357, 3.6231, 0.88026, 0.49671))
DENS_THRESHOLD = 1e-12


def _pw_g(rs, A, a1, b1, b2, b3, b4):
    den = 2 * A * (b1 * rs.sqrt() + b2 * rs + b3 * rs ** 1.5 + b4 * rs ** 2)
    return -2 * A * (1 + a1 * rs) * torch.log1p(1 / den)


def _exchange_density(n_s, s_ss):
    '''PBE exchange energy density of one spin channel, by spin scaling from 2 n_s.'''
    n = 2 * n_s
    kf = (3 * math.pi ** 2 * n) ** (1 / 3)
    ex_unif = -3 / (4 * math.pi) * kf
    s2 = 4 * s_ss / (2 * kf * n) ** 2
    fx = 1 + KAPPA - KAPPA / (1 + MU * s2 / KAPPA)
    return 0.5 * n * ex_unif * fx


class TorchPBE(TorchFunctional):
    def __init__(self, name='torch-pbe'):
        super().__init__(name, 'GGA')

    def eps(self, d, R=None):
        n = d.n_a + d.n_b
        mask = n > DENS_THRESHOLD
        one = torch.ones_like(n)
        na = torch.where(mask, d.n_a, one).clamp(min=1e-30)
        nb = torch.where(mask, d.n_b, one).clamp(min=1e-30)
        saa = torch.where(mask, d.s_aa, one)
        sbb = torch.where(mask, d.s_bb, one)
        sab = torch.where(mask, d.s_ab, one)
        n = na + nb
        ex = _exchange_density(na, saa) + _exchange_density(nb, sbb)
        zeta = ((na - nb) / n).clamp(-1 + 1e-15, 1 - 1e-15)
        rs = (3 / (4 * math.pi * n)) ** (1 / 3)
        ec0, ec1, mac = (_pw_g(rs, *p) for p in PW_PARAMS)
        fz = ((1 + zeta) ** (4 / 3) + (1 - zeta) ** (4 / 3) - 2) / (2 ** (4 / 3) - 2)
        z4 = zeta ** 4
        ec = ec0 - mac * fz / FZ20 * (1 - z4) + (ec1 - ec0) * fz * z4
        phi = ((1 + zeta) ** (2 / 3) + (1 - zeta) ** (2 / 3)) / 2
        kf = (3 * math.pi ** 2 * n) ** (1 / 3)
        ks = torch.sqrt(4 * kf / math.pi)
        sigma = saa + sbb + 2 * sab
        t2 = sigma / (2 * phi * ks * n) ** 2
        A = BETA / GAMMA / torch.expm1(-ec / (GAMMA * phi ** 3))
        At2 = A * t2
        H = GAMMA * phi ** 3 * torch.log1p(BETA / GAMMA * t2 * (1 + At2) / (1 + At2 + At2 ** 2))
        eps = ex / n + ec + H
        return torch.where(mask, eps, torch.zeros_like(eps))
