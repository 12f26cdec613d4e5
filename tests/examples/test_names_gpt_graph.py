"""examples/names_gpt.py --engine graph: one captured Graph per name length, replayed with the tokens'
embedding rows and one-hot targets fed in one call, against the rebuilding engine."""

import random
import re

import pytest
from support import run_python

import micrograd_cpp as mg


def train(names_gpt, engine, steps, seed=42, num_steps=1000):
    """The script's training loop on either engine: the losses, the final weights, the engine."""
    random.seed(seed)
    names = names_gpt.load_names()
    random.shuffle(names)
    tokenizer = names_gpt.Tokenizer(names)
    params = names_gpt.init_params(tokenizer.vocab_size)
    weights = names_gpt.parameters(params)
    optimizer = mg.optim.Adam(weights, lr=names_gpt.LEARNING_RATE, betas=names_gpt.BETAS, eps=names_gpt.EPS)
    graphs = names_gpt.GraphEngine(params, tokenizer.vocab_size) if engine == "graph" else None
    losses = []
    for step in range(steps):
        optimizer.lr = names_gpt.LEARNING_RATE * (1 - step / num_steps)
        tokens = tokenizer.encode(names[step % len(names)])
        if graphs is None:
            losses.append(names_gpt.train_step(params, optimizer, tokens))
        else:
            losses.append(graphs.train_step(optimizer, tokens))
    return losses, [w.data for w in weights], graphs, params, tokenizer


@pytest.fixture(scope="module")
def both(names_gpt):
    return train(names_gpt, "rebuild", 200), train(names_gpt, "graph", 200)


def test_the_graph_engines_losses_are_the_rebuilding_engines_over_200_steps(both):
    (rebuilt, rebuilt_weights, *_), (replayed, replayed_weights, *_) = both
    assert len(replayed) == 200
    assert max(abs(a - b) for a, b in zip(rebuilt, replayed)) <= 1e-12
    assert max(abs(a - b) for a, b in zip(rebuilt_weights, replayed_weights)) <= 1e-12
    assert (
        rebuilt[0] == replayed[0]
    )  # before any update: the same ops on the same numbers (one-hot dot exact)


def test_one_graph_per_length_made_on_first_use_and_bounded(both, names_gpt):
    _, (_, _, graphs, *_) = both
    assert set(graphs.graphs) <= set(range(1, names_gpt.BLOCK_SIZE + 1))
    held = graphs.nbytes()
    assert set(held) == set(graphs.graphs)
    assert all(0 < b < 4 * 2**20 for b in held.values())  # under 4 MiB a length, so at most 64 MiB in all
    assert list(held) == sorted(held)
    sizes = [held[n] for n in sorted(held)]
    assert sizes == sorted(sizes)  # a longer name, a larger graph
    n = min(held)
    assert graphs.graph([0] * (n + 1)) is graphs.graph([1] * (n + 1)) is graphs.graphs[n]  # made once


def test_the_first_gradients_match_a_rebuild_and_the_embedding_rows_get_theirs(names_gpt):
    random.seed(1)
    tokenizer = names_gpt.Tokenizer(["anna", "bob"])
    params = names_gpt.init_params(tokenizer.vocab_size)
    weights = names_gpt.parameters(params)
    tokens = tokenizer.encode("anna")  # a: seen twice, its row's gradient is the sum
    loss = names_gpt.gpt_loss(params, tokens)
    loss.backward()
    want = [w.grad for w in weights]
    for w in weights:
        w.grad = 0.0
    graphs = names_gpt.GraphEngine(params, tokenizer.vocab_size)
    assert graphs.loss(tokens) == loss.data
    graphs.graph(tokens).backward()
    assert [w.grad for w in weights] == pytest.approx(want, rel=1e-13, abs=1e-16)
    assert any(w.grad != 0.0 for w in params["wte"][tokenizer.encode("a")[1]])


def test_a_name_longer_than_the_block_is_cut_to_the_block(names_gpt):
    random.seed(0)
    tokenizer = names_gpt.Tokenizer(["ab"])
    params = names_gpt.init_params(tokenizer.vocab_size)
    graphs = names_gpt.GraphEngine(params, tokenizer.vocab_size)
    long_name = tokenizer.encode("ab" * 20)
    assert graphs.loss(long_name) == names_gpt.gpt_loss(params, long_name).data
    assert list(graphs.graphs) == [names_gpt.BLOCK_SIZE]


def test_sampling_after_the_graph_engine_is_as_after_rebuilding(names_gpt, both):
    (_, _, _, rebuilt_params, tokenizer), (_, _, _, replayed_params, _) = both
    random.seed(9)
    want = [names_gpt.sample(rebuilt_params, tokenizer) for _ in range(10)]
    random.seed(9)
    got = [names_gpt.sample(replayed_params, tokenizer) for _ in range(10)]
    assert got == want


def test_the_script_with_the_graph_engine_trains_as_with_rebuilding(script_path):
    example = str(script_path("examples/names_gpt.py"))
    runs = {
        engine: run_python(
            example, "--steps", "60", "--samples", "6", "--seed", "4", "--engine", engine, timeout=600
        )
        for engine in ("rebuild", "graph")
    }
    for proc in runs.values():
        assert proc.returncode == 0, proc.stderr
    loss = {
        e: re.search(r"loss: (\d+\.\d+) \(mean of the last 60 steps\)", p.stdout) for e, p in runs.items()
    }
    assert loss["graph"]
    assert loss["rebuild"]
    assert loss["graph"].group(1) == loss["rebuild"].group(1)
    assert runs["graph"].stdout.split("new names", 1)[1] == runs["rebuild"].stdout.split("new names", 1)[1]
    memory = re.search(
        r"graphs: (\d+) lengths captured, (\d+\.\d) MiB in all \(at most 16; ", runs["graph"].stdout
    )
    assert memory, runs["graph"].stdout
    assert "graphs:" not in runs["rebuild"].stdout


def test_the_script_rejects_an_unknown_engine(script_path):
    proc = run_python(str(script_path("examples/names_gpt.py")), "--engine", "jit", timeout=600)
    assert proc.returncode == 2
    assert "invalid choice" in proc.stderr
