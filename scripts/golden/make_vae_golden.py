#!/usr/bin/env python3
"""PyTorch golden values for the VAE/autoencoder losses in EmberNN (Sources/EmberNN/Generative).

Writes Tests/EmberNNTests/Fixtures/nn_vae.json, read by Tests/EmberNNTests/VAEGoldenTests.swift. The expected values
are computed independently of Ember's formulas, with torch.distributions: the Bernoulli decoder's log-likelihood
(`Bernoulli(logits=...).log_prob(x)`, valid for continuous x in [0, 1] as the usual MNIST-style "Bernoulli" VAE), the
Gaussian decoder's (`Normal(sigmoid(logits), sigma).log_prob(x)`) and the KL term (`kl_divergence(Normal(mu, std),
Normal(0, 1))`), each summed per image; the negative ELBO is their sum, and the annealed loss the batch mean of
reconstruction + beta * KL. Gradients of that loss with respect to logits, mu and logVar come from autograd.

Regenerate
----------
    /work/.venv-torch/bin/python scripts/golden/make_vae_golden.py
    OPENBLAS_NUM_THREADS=1 swift test --filter VAEGoldenTests

Deterministic: torch.manual_seed(17); float64 throughout (the Swift test runs in float64 too).
"""
import json
import os

import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

torch.manual_seed(17)
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "EmberNNTests", "Fixtures", "nn_vae.json")


def t(x):
    return {"shape": list(x.shape), "data": x.detach().reshape(-1).tolist()}


cases = []
for name, n, shape, latent, beta, sigma in [("bernoulli, 3 images 1x4x4, latent 5", 3, (1, 4, 4), 5, 1.0, None),
                                            ("bernoulli, annealed beta 0.3, 2 images 2x3x3", 2, (2, 3, 3), 4, 0.3, None),
                                            ("gaussian sigma 0.3, 3 images 1x4x4", 3, (1, 4, 4), 5, 1.0, 0.3),
                                            ("gaussian sigma 1.5, extreme logits", 2, (1, 2, 2), 3, 0.5, 1.5)]:
    x = torch.rand(n, *shape, dtype=torch.float64)
    x[0].view(-1)[0] = 0.0
    x[-1].view(-1)[-1] = 1.0
    logits = (torch.randn(n, *shape, dtype=torch.float64) * 3)
    if "extreme" in name:
        logits.view(-1)[0] = 40.0
        logits.view(-1)[1] = -35.0
    mu = torch.randn(n, latent, dtype=torch.float64)
    log_var = torch.randn(n, latent, dtype=torch.float64) * 0.7
    logits.requires_grad_(True); mu.requires_grad_(True); log_var.requires_grad_(True)
    if sigma is None:
        ll = Bernoulli(logits=logits, validate_args=False).log_prob(x)
    else:
        ll = Normal(torch.sigmoid(logits), sigma).log_prob(x)
    rec = -ll.reshape(n, -1).sum(1)
    kl = kl_divergence(Normal(mu, torch.exp(0.5 * log_var)), Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(1)
    loss = (rec + beta * kl).mean()
    loss.backward()
    cases.append({"name": name, "sigma": sigma, "beta": beta, "x": t(x), "logits": t(logits), "mu": t(mu),
                  "log_var": t(log_var), "reconstruction": rec.tolist(), "kl": kl.tolist(),
                  "negative_elbo": (rec + kl).tolist(), "loss": loss.item(),
                  "grad_logits": t(logits.grad), "grad_mu": t(mu.grad), "grad_log_var": t(log_var.grad)})

with open(OUT, "w") as f:
    json.dump({"torch_version": torch.__version__, "cases": cases}, f, indent=0)
print("wrote", os.path.normpath(OUT))
