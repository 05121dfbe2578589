"""PyTorch's core concepts, each checked by an assertion.

Tensors, autograd, an nn.Module, an optimiser step and device selection: the
snippets a newcomer meets first. Run it; it prints one line per concept and
fails loudly if any of them does not behave as documented.
"""

import torch
from torch import nn


def tensors():
    t = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert t.shape == (2, 2) and t.dtype == torch.float32
    assert torch.equal(t @ torch.eye(2), t)
    assert t.sum().item() == 10.0
    return "tensor shape, dtype and matmul"


def autograd():
    x = torch.tensor(3.0, requires_grad=True)
    (x**2).backward()
    assert x.grad.item() == 6.0, x.grad  # d(x^2)/dx = 2x
    return "autograd: d(x**2)/dx at 3 is 6"


class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(4, 8)
        self.out = nn.Linear(8, 1)

    def forward(self, x):
        return self.out(torch.relu(self.hidden(x)))


def module():
    model = TwoLayer()
    assert model(torch.zeros(5, 4)).shape == (5, 1)
    assert sum(p.numel() for p in model.parameters()) == 4 * 8 + 8 + 8 * 1 + 1
    return "nn.Module forward and parameter count"


def adam_step():
    torch.manual_seed(0)
    weight = nn.Parameter(torch.tensor([1.0]))
    optimizer = torch.optim.Adam([weight], lr=0.1)
    loss = (weight**2).sum()
    loss.backward()
    optimizer.step()
    # Adam's first step moves each weight by lr against the gradient's sign.
    assert abs(weight.item() - 0.9) < 1e-6, weight.item()
    return "Adam step moves the weight by lr"


def device_selection():
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    t = torch.ones(3, device=device)
    assert t.device.type == device.type
    assert torch.equal(t.cpu(), torch.ones(3))
    return f"device selection ({device})"


def main():
    for concept in (tensors, autograd, module, adam_step, device_selection):
        print(f"ok  {concept()}")


if __name__ == "__main__":
    main()
