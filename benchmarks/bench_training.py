"""micrograd's demo training step, side by side: micrograd, its notebook code re-imported onto
micrograd_cpp, and micrograd_cpp's own nn + losses + optim.

    python benchmarks/bench_training.py [--steps 20] [--micrograd-steps 3]

The step (micrograd's demo.ipynb): 100 moons, MLP(2, [16, 16, 1]), hinge loss + 1e-4 L2, backward,
SGD. All three run in this one process on the same data and initial weights; the printed figures
are median milliseconds per step and the speed-ups over micrograd. Targets: >= 100x re-imported,
>= 250x with micrograd_cpp's own layers.
"""

import argparse
import random
import statistics
import sys
import time

import micrograd_cpp
import micrograd_cpp.engine
import micrograd_cpp.nn
from micrograd_cpp.demo import make_moons
from micrograd_cpp.losses import hinge_loss
from micrograd_cpp.optim import SGD

try:
    import micrograd.engine
    import micrograd.nn
except ImportError:  # pragma: no cover
    sys.exit("needs micrograd: pip install micrograd")


def notebook_steps(engine, nn, X, y, steps):
    """micrograd's demo notebook, verbatim but for the modules it is given. Yields seconds per step."""
    Value, MLP = engine.Value, nn.MLP
    random.seed(1337)
    model = MLP(2, [16, 16, 1])

    def loss(batch_size=None):
        Xb, yb = X, y
        inputs = [list(map(Value, xrow)) for xrow in Xb]
        # forward the model to get scores
        scores = list(map(model, inputs))
        # svm "max-margin" loss
        losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(yb, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        # L2 regularization
        alpha = 1e-4
        reg_loss = alpha * sum(p * p for p in model.parameters())
        total_loss = data_loss + reg_loss
        # also get accuracy
        accuracy = [(yi > 0) == (scorei.data > 0) for yi, scorei in zip(yb, scores)]
        return total_loss, sum(accuracy) / len(accuracy)

    for k in range(steps):
        start = time.perf_counter()
        # forward
        total_loss, acc = loss()
        # backward
        model.zero_grad()
        total_loss.backward()
        # update (sgd)
        learning_rate = 1.0 - 0.9 * k / 100
        for p in model.parameters():
            p.data -= learning_rate * p.grad
        del total_loss
        yield time.perf_counter() - start, acc


def native_steps(X, y, steps):
    """The same step with micrograd_cpp's nn, losses and optim (as micrograd_cpp.demo trains)."""
    random.seed(1337)
    model = micrograd_cpp.nn.MLP(2, [16, 16, 1])
    optimizer = SGD(model.parameters(), lr=1.0)
    inputs = [[micrograd_cpp.Value(a), micrograd_cpp.Value(b)] for a, b in X]
    for k in range(steps):
        start = time.perf_counter()
        scores = [model(x) for x in inputs]
        total = hinge_loss(scores, y) + 1e-4 * sum(p * p for p in model.parameters())
        acc = sum((yi > 0) == (s.data > 0) for yi, s in zip(y, scores)) / len(y)
        optimizer.zero_grad()
        total.backward()
        optimizer.lr = 1.0 - 0.9 * k / 100
        optimizer.step()
        del total, scores
        yield time.perf_counter() - start, acc


def median_ms(samples):
    return 1000 * statistics.median(seconds for seconds, _ in samples)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=30, help="steps timed for micrograd_cpp")
    parser.add_argument(
        "--micrograd-steps", type=int, default=3, help="steps timed for micrograd (~1 s each)"
    )
    args = parser.parse_args()

    X, y01 = make_moons(100, 0.1, 1337)
    y = [2 * label - 1 for label in y01]
    print(f"Python {sys.version.split()[0]}, micrograd_cpp {micrograd_cpp.__version__}; median ms per step")

    reimported = list(notebook_steps(micrograd_cpp.engine, micrograd_cpp.nn, X, y, args.steps))
    native = list(native_steps(X, y, args.steps))
    reference = list(notebook_steps(micrograd.engine, micrograd.nn, X, y, args.micrograd_steps))
    ours = reimported[: args.micrograd_steps]
    assert [a for _, a in ours] == [a for _, a in reference], "re-imported run must follow micrograd's"

    base = median_ms(reference)
    rows = [
        ("micrograd (its notebook code)", base),
        ("same code, imports -> micrograd_cpp", median_ms(reimported)),
        ("micrograd_cpp nn + losses + optim", median_ms(native)),
    ]
    for name, ms in rows:
        print(f"{name:40}{ms:10.2f} ms{base / ms:10.0f}x")
    print(
        f"targets: re-imported >= 100x ({base / rows[1][1]:.0f}x), native >= 250x ({base / rows[2][1]:.0f}x)"
    )


if __name__ == "__main__":
    main()
