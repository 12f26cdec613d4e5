"""The seed example, then a tiny neuron fitted by gradient descent."""

import micrograd_cpp as mg

a, b = mg.Value(2.0, label="a"), mg.Value(3.0, label="b")
c = a * b + a
c.backward()
print(f"c = a*b + a = {c.data}; dc/da = {a.grad}, dc/db = {b.grad}")

# fit tanh(w*x + b) to a few points
points = [(-1.0, -0.8), (-0.5, -0.4), (0.5, 0.45), (1.0, 0.75)]
w, bias = mg.Value(0.1, label="w"), mg.Value(0.0, label="bias")
for step in range(200):
    loss = sum((((w * x + bias).tanh() - y) ** 2 for x, y in points), mg.Value(0.0))
    w.grad = bias.grad = 0
    loss.backward()
    for p in (w, bias):
        p.data -= 0.1 * p.grad
    if step % 50 == 0 or step == 199:
        print(f"step {step:3d}  loss {loss.data:.5f}")
print(f"w = {w.data:.3f}, bias = {bias.data:.3f}")
