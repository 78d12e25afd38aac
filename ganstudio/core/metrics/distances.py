"""Distances between a generated and a real sample set, in some feature space.

- Fréchet distance (FD): |mu_r - mu_g|^2 + tr(S_r + S_g - 2 (S_r^1/2 S_g S_r^1/2)^1/2), the formula
  of FID (Heusel et al. 2017), computed in float64 with symmetric eigen-decompositions rather than
  a general matrix square root, so it stays real and finite for singular covariances.
- Improved precision and recall (Kynkäänniemi et al. 2019): each set is a union of balls around its
  points, of radius the distance to the k-th nearest neighbour in the same set (k = 3). Precision is
  the share of generated points inside the real manifold, recall the share of real points inside
  the generated one. A ball holds the points at distance <= its radius, as in that paper.
- Density and coverage (Naeem et al. 2020, k = 5): density counts how many real balls each
  generated point falls in, divided by k (about 1 when the two sets match, above 1 when generated
  points crowd dense real regions); coverage is the share of real balls that hold a generated point.
  Here a ball holds the points strictly inside it (distance < radius), as in the authors' reference
  code (clovaai/generative-evaluation-prdc): with ties, from memorised or duplicated samples, `<=`
  would count a real point's own k-th neighbour too and report, say, density 1.3 where the
  reference gives 1.0.

The evaluator bootstraps the generated set (resamples with replacement). A resample is given as
`counts`, how many copies of each generated point it holds, so distance matrices are computed once
per evaluation and each resample costs a few matrix-vector products. A copy is never its own
neighbour: a point's k-th neighbour radius counts the copies of the *other* points.

All computations use torch in float64 (torch's thread setting applies; numpy's BLAS would start
threads of its own).
"""

from __future__ import annotations

import torch

PR_K = 3
DC_K = 5
NEIGHBOUR_DEPTH = 32  # nearest neighbours kept per point: enough for k <= 5 in any resample


def gaussian_stats(
    features: torch.Tensor, counts: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and covariance (n - 1 normalised) of (n, d) features, in float64; of a resample with
    `counts` copies of each row when given."""
    f = features.double()
    c = torch.ones(f.shape[0], dtype=torch.float64) if counts is None else counts.double()
    n = c.sum()
    mu = c @ f / n
    centred = f - mu
    return mu, (centred * c[:, None]).T @ centred / max(float(n) - 1, 1.0)


def _sqrt_psd(c: torch.Tensor) -> torch.Tensor:
    w, v = torch.linalg.eigh((c + c.T) / 2)
    return (v * w.clamp(min=0).sqrt()) @ v.T


class FrechetReference:
    """The reference Gaussian, with its covariance's square root computed once."""

    def __init__(self, mu: torch.Tensor, cov: torch.Tensor):
        self.mu, self.cov = torch.as_tensor(mu).double(), torch.as_tensor(cov).double()
        self.root = _sqrt_psd(self.cov)

    @classmethod
    def of(cls, features: torch.Tensor) -> FrechetReference:
        return cls(*gaussian_stats(features))

    def distance(self, mu: torch.Tensor, cov: torch.Tensor) -> float:
        mu, cov = torch.as_tensor(mu).double(), torch.as_tensor(cov).double()
        # tr((C1 C2)^1/2) = tr((R C2 R)^1/2) with R = C1^1/2: a symmetric PSD matrix, so its
        # eigenvalues are real; tiny negative ones from rounding are clipped to 0.
        m = self.root @ cov @ self.root
        tr_cross = torch.linalg.eigvalsh((m + m.T) / 2).clamp(min=0).sqrt().sum()
        diff = self.mu - mu
        fd = diff @ diff + self.cov.trace() + cov.trace() - 2.0 * tr_cross
        return max(float(fd), 0.0)


def frechet_distance(mu1, cov1, mu2, cov2) -> float:
    """FD between N(mu1, cov1) and N(mu2, cov2) (tensors or arrays); >= 0."""
    return FrechetReference(mu1, cov1).distance(mu2, cov2)


class Neighbours:
    """Each point's nearest other points in its own set, sorted, from the set's distance matrix.

    With `overwrite=True` the matrix (float64) is used as scratch space instead of copied: one
    n x n buffer less at the evaluation's peak."""

    def __init__(self, d: torch.Tensor, depth: int = NEIGHBOUR_DEPTH, *, overwrite: bool = False):
        d = d.double() if overwrite else d.double().clone()
        d.fill_diagonal_(float("inf"))
        self.depth = max(1, min(depth, d.shape[0] - 1))
        self.dist, self.index = d.topk(self.depth, dim=1, largest=False)  # ascending

    def radii(self, k: int, counts: torch.Tensor | None = None) -> torch.Tensor:
        """Distance from each point to its k-th nearest neighbour; in a resample holding
        `counts[j]` copies of point j when given (neighbours are counted with multiplicity)."""
        if counts is None:
            return self.dist[:, min(k, self.depth) - 1]
        seen = counts[self.index].cumsum(dim=1)
        pos = (seen < k).sum(dim=1).clamp(max=self.depth - 1)
        return self.dist.gather(1, pos[:, None]).squeeze(1)


class ManifoldMetrics:
    """Precision, recall, density and coverage of a generated set against a real one.

    It holds one n_real x n_fake float64 matrix and one boolean one while an evaluation runs; a
    resample allocates only an n_real x n_fake boolean (the membership tests are `any`s over the
    present points, not matrix products in float64, with the same results). The real set's own
    radii can be computed once and passed in (`real_radii`)."""

    def __init__(
        self,
        real: torch.Tensor,
        fake: torch.Tensor,
        pr_k: int = PR_K,
        dc_k: int = DC_K,
        *,
        real_radii: tuple[torch.Tensor, torch.Tensor] | None = None,
    ):
        """`real_radii`: `real_radii(real, pr_k, dc_k)`, when the caller keeps it for a fixed
        reference set (it saves an n_real x n_real distance matrix per evaluation)."""
        real, fake = real.double(), fake.double()
        self.pr_k, self.dc_k = pr_k, dc_k
        self.n = fake.shape[0]
        r_pr, r_dc = real_radii if real_radii is not None else self.real_radii(real, pr_k, dc_k)
        self.d_rf = torch.cdist(real, fake)  # (n_real, n_fake)
        self.fake_nbrs = Neighbours(torch.cdist(fake, fake), overwrite=True)
        inside_pr = self.d_rf <= r_pr[:, None]  # real ball j holds generated i
        self._in_real = inside_pr.any(dim=0).double()  # per generated point
        del inside_pr
        self._inside_dc = self.d_rf < r_dc[:, None]  # strict, as the prdc reference (module docstring)
        self._balls = self._inside_dc.sum(dim=0).double()  # per generated point: real balls holding it

    @staticmethod
    def real_radii(
        real: torch.Tensor, pr_k: int = PR_K, dc_k: int = DC_K
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Each real point's distance to its pr_k-th and dc_k-th nearest other real point."""
        nbrs = Neighbours(torch.cdist(real.double(), real.double()), overwrite=True)
        return nbrs.radii(pr_k), nbrs.radii(dc_k)

    def values(self, counts: torch.Tensor | None = None) -> dict[str, float]:
        """The four values on the whole generated set, or on a resample given by `counts`."""
        if counts is None:
            counts = torch.ones(self.n, dtype=torch.float64)
        counts = counts.double()
        total = counts.sum()
        present = counts > 0
        # A generated point left out of the resample gets radius -inf: its ball holds nothing.
        r_fake = self.fake_nbrs.radii(self.pr_k, counts).masked_fill(~present, float("-inf"))
        in_fake = (self.d_rf <= r_fake[None, :]).any(dim=1)  # per real point
        return {
            "precision": float(self._in_real @ counts / total),
            "recall": float(in_fake.double().mean()),
            "density": float(self._balls @ counts / total) / self.dc_k,
            "coverage": float((self._inside_dc & present[None, :]).any(dim=1).double().mean()),
        }


def mean_pairwise_distance(d: torch.Tensor, counts: torch.Tensor | None = None) -> float:
    """Mean distance between two different points of a set, from its square distance matrix; in a
    resample with `counts` copies of each point when given (copies of one point are not a pair)."""
    c = torch.ones(d.shape[0], dtype=torch.float64) if counts is None else counts.double()
    d = d.double()
    pairs = c.sum() ** 2 - (c * c).sum()
    # Minus the diagonal: cdist's matrix-product path can leave rounding noise there.
    total = c @ d @ c - (c * c) @ d.diagonal()
    return float(total / pairs) if pairs > 0 else 0.0
