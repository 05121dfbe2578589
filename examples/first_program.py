"""A first PyTorch program: fit y = 2x + 1 with a linear model.

Linear model, mean squared error, plain SGD, 100 epochs, the loss printed
every 20. Seeded, so every run prints the same numbers on the same device; on
a GPU when one is available. Exits non-zero unless the model really learned:
the loss must fall at least a hundredfold and the weights must be near 2 and 1.
"""

import sys

import torch
from torch import nn


def train(epochs=100, seed=0):
    torch.manual_seed(seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(f"training on {device}")

    x = torch.linspace(-1, 1, 64, device=device).unsqueeze(1)
    y = 2 * x + 1 + 0.01 * torch.randn(x.shape, device=device)

    model = nn.Linear(1, 1).to(device)
    loss_fn = nn.MSELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

    losses = []
    for epoch in range(1, epochs + 1):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if epoch % 20 == 0:
            print(f"epoch {epoch:3d}  loss {loss.item():.6f}")
    return model, losses


def main():
    model, losses = train()
    weight, bias = model.weight.item(), model.bias.item()
    print(f"learned y = {weight:.3f}x + {bias:.3f} (target y = 2x + 1)")
    learned = losses[-1] < losses[0] / 100 and abs(weight - 2) < 0.05 and abs(bias - 1) < 0.05
    if not learned:
        print(f"FAILED: loss went from {losses[0]:.6f} to {losses[-1]:.6f}", file=sys.stderr)
        return 1
    print(f"ok: loss fell from {losses[0]:.6f} to {losses[-1]:.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
