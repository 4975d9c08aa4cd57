"""Muon (Jordan et al., 2024): momentum whose update is orthogonalised before it is applied, for conv filters.

Each conv filter bank (out, in, k, k) is viewed as a matrix (out, in*k*k); its Nesterov momentum is replaced by
the nearest semi-orthogonal matrix (all singular values about 1), computed with a few Newton-Schulz iterations, so
every direction of the update moves at the same rate. The other parameters (biases, norms, the classifier) take a
plain SGD step with Nesterov momentum in the same optimizer, so one scheduler and one checkpoint serve both.
"""

from collections.abc import Iterable

import torch

NEWTON_SCHULZ = (3.4445, -4.7750, 2.0315)  # the published quintic's coefficients: fast, not exact, convergence


def orthogonalize(matrix: torch.Tensor, steps: int = 5) -> torch.Tensor:
    """U Vᵀ of the matrix's SVD, approximately (singular values land near 1), by quintic Newton-Schulz in bf16."""
    a, b, c = NEWTON_SCHULZ
    x = matrix.bfloat16()
    tall = x.shape[0] > x.shape[1]
    if tall:
        x = x.T
    x = x / (x.norm() + 1e-7)  # spectral norm <= Frobenius norm <= 1: inside the iteration's basin
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return (x.T if tall else x).to(matrix.dtype)


class Muon(torch.optim.Optimizer):
    """Orthogonalised Nesterov momentum for the groups marked `orthogonal` (with `normalize`, each filter bank is
    rescaled to norm √out before its step), SGD with Nesterov momentum and weight decay for the others."""

    def __init__(self, params: Iterable[dict], lr: float, momentum: float = 0.9) -> None:
        """Groups may set their own lr, momentum, weight_decay, `orthogonal` and `normalize` (both default False)."""
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=0.0, orthogonal=False, normalize=False))

    @torch.no_grad()
    def step(self, closure: None = None) -> None:
        """One update of every parameter that has a gradient."""
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                grad = param.grad
                if group["weight_decay"] and not group["orthogonal"]:
                    grad = grad.add(param, alpha=group["weight_decay"])
                state = self.state[param]
                if "momentum" not in state:
                    state["momentum"] = torch.zeros_like(param)
                buffer = state["momentum"].mul_(group["momentum"]).add_(grad)
                update = grad.add(buffer, alpha=group["momentum"])  # Nesterov
                if group["orthogonal"]:
                    rows = update.shape[0]
                    update = orthogonalize(update.reshape(rows, -1)).view_as(param)
                    update *= max(1.0, rows / update[0].numel()) ** 0.5  # wide and tall matrices move alike
                    if group.get("normalize"):  # a fixed norm: the step's angle does not shrink as weights grow
                        param.mul_(rows**0.5 / param.norm().clamp_min(1e-12))
                param.add_(update, alpha=-group["lr"])
