"""Optimizers shaped like ``torch.optim``: ``SGD`` and ``Adam``. ::

    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    for step in range(100):
        loss = ...
        opt.zero_grad()
        loss.backward()
        opt.step()

``step()`` updates every parameter in C++, in one call, with PyTorch's arithmetic (trajectories agree
with ``torch.optim`` to rounding). Hyperparameters are attributes (``opt.lr = 0.01`` between steps for
a schedule); invalid values raise ValueError, a parameter that is not a Value raises TypeError.
"""

from ._core import SGD, Adam, Optimizer

__all__ = ["SGD", "Adam", "Optimizer"]
