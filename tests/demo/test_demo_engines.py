"""The demo's three engines (rebuild each step, replay one captured graph, run one sample's graph over the
batch) train to the same model: the captured graph bit for bit, the batch to the last bits."""

import contextlib
import io
import math
import random

import pytest

from micrograd_cpp import demo


def trained(engine, steps):
    X, y01 = demo.make_moons(100, 0.1, 1337)
    y = [2 * label - 1 for label in y01]
    random.seed(1337)
    with contextlib.redirect_stdout(io.StringIO()):
        model, loss, acc = demo.train(X, y, steps, engine)
    return [p.data for p in model.parameters()], loss, acc


@pytest.mark.parametrize("steps", [1, 30])
def test_every_engine_reaches_the_rebuild_engines_model(steps):
    params, loss, acc = trained("rebuild", steps)
    assert trained("graph", steps) == (params, loss, acc)  # the same arithmetic, in the same order
    batch_params, batch_loss, batch_acc = trained("batch", steps)
    assert batch_acc == acc
    assert math.isclose(batch_loss, loss, rel_tol=1e-12)
    assert all(math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) for a, b in zip(batch_params, params))


def test_an_unknown_engine_is_refused():
    with pytest.raises(ValueError, match="engine must be one of batch, graph, rebuild"):
        demo.train([[0.0, 0.0]], [1], 1, "gpu")
    with pytest.raises(SystemExit), contextlib.redirect_stderr(io.StringIO()):
        demo.main(["--engine", "gpu"])
