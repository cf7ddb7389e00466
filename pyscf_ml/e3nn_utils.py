'''Building e3nn models with exact constants, and loading trained weights into them.'''
import contextlib

import torch


@contextlib.contextmanager
def float64_default():
    '''e3nn builds its constants (Wigner D generators, Clebsch-Gordan tables of compiled
    tensor products) in torch's default dtype; float32 limits equivariance to ~1e-7, so the
    guess model (always) and KineticNet (when loaded for use) are built under float64 and cast
    afterwards.  KineticNet's trainer builds in float32: its training metrics carry ~1e-8
    relative rotation noise, far below the fitted errors.'''
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def load_trained_state(model, state_dict, rtol=1e-6, atol=1e-6):
    '''Load a weight file's parameters, and the buffers named in ``model.stored_buffers`` (part
    of the trained function: fitted, or fixed at training time), into ``model``; every other
    buffer is a constant of the architecture (e3nn's Clebsch-Gordan tables, masks) and the
    model keeps its own.

    Why: files store those constants as the training build made them (float32-rounded); loading
    them into a model built under :func:`float64_default` would limit its equivariance to ~1e-8
    (measured on the shipped Hamiltonian and kinetic models).  A file whose constants differ
    from this build's beyond float32 rounding, or are not finite, was made with other
    conventions (e.g. another e3nn version) and is refused with ValueError.'''
    own = model.state_dict()
    if set(state_dict) != set(own):
        extra, missing = sorted(set(state_dict) - set(own)), sorted(set(own) - set(state_dict))
        raise ValueError(f'weights do not fit this model: unexpected {extra[:3]}, '
                         f'missing {missing[:3]}')
    learned = ({n for n, _ in model.named_parameters()}
               | set(getattr(model, 'stored_buffers', ())))
    merged = {}
    for name, value in state_dict.items():
        mine = own[name]
        if name in learned:
            merged[name] = value
        elif value.shape != mine.shape or not torch.allclose(
                value.to(torch.float64), mine.to('cpu', torch.float64), rtol=rtol, atol=atol):
            raise ValueError(f'constant {name} of the weights differs from this build '
                             f'(another e3nn version or convention?)')
        else:
            merged[name] = mine
    model.load_state_dict(merged)
    return model
