"""PNG plots of downstream runs: confusion matrices and 2-D embeddings.

* :func:`plot_confusion`: a confusion matrix (row-normalised colours,
  counts and row percentages written in the cells).
* :func:`embed_2d`: a 2-D map of head representations with UMAP when
  ``umap-learn`` is installed, otherwise :func:`tsne` (an exact t-SNE in
  numpy, so no extra dependency is needed).
* :func:`plot_embedding`: the paper's Figure 3/4 view: the 2-D map
  coloured by class and, when given, by a continuous value such as
  IEMOCAP's arousal (activation, 1-5).

Plotting needs ``matplotlib`` (``pip install emotion2vec[plots]``); it is
imported only when a plot is drawn (Agg backend, no display needed).

Authors
 * emotion2vec-sb contributors
"""

from pathlib import Path
from typing import Optional, Sequence, Tuple

import numpy as np

from emotion2vec.fileutils import PathLike


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError(
            f"plots need matplotlib: pip install 'emotion2vec[plots]' ({error})"
        ) from None
    return plt


def plots_available() -> bool:
    """Whether matplotlib can be imported.

    Returns
    -------
    bool
    """
    try:
        _pyplot()
    except ImportError:
        return False
    return True


def plot_confusion(
    matrix: Sequence[Sequence[int]], labels: Sequence[str], path: PathLike, title: str = ""
) -> Path:
    """Writes a confusion matrix PNG (rows = targets, columns = predictions).

    Arguments
    ---------
    matrix : array-like
        ``[classes, classes]`` counts.
    labels : sequence of str
        Class names in index order.
    path : str or path
        Output PNG.
    title : str
        Figure title.

    Returns
    -------
    Path
    """
    plt = _pyplot()
    counts = np.asarray(matrix, dtype=np.int64)
    totals = counts.sum(axis=1, keepdims=True)
    rates = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    size = 1.0 + 0.9 * len(labels)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(labels)), labels=labels)
    ax.set_yticks(range(len(labels)), labels=labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(counts.shape[0]):
        for j in range(counts.shape[1]):
            colour = "white" if rates[i, j] > 0.6 else "black"
            ax.text(j, i, f"{counts[i, j]}\n{100 * rates[i, j]:.0f}%", ha="center",
                    va="center", fontsize=8, color=colour)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    if title:
        ax.set_title(title, fontsize=9)
    return _save(fig, plt, path)


def _save(fig, plt, path: PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _pca(x: np.ndarray, dims: int) -> np.ndarray:
    centred = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    out = centred @ vt[:dims].T
    if out.shape[1] < dims:
        out = np.pad(out, ((0, 0), (0, dims - out.shape[1])))
    return out


def _affinities(x: np.ndarray, perplexity: float) -> np.ndarray:
    """Symmetric t-SNE input affinities (binary search on each row's precision)."""
    n = len(x)
    sq = np.sum(x * x, axis=1)
    dist = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0)
    dist /= max(np.median(dist[dist > 0]) if np.any(dist > 0) else 1.0, 1e-12)
    finite = dist.copy()
    np.fill_diagonal(dist, np.inf)
    target = np.log(perplexity)
    beta, low, high = np.ones(n), np.zeros(n), np.full(n, np.inf)
    for _ in range(64):
        p = np.exp(-dist * beta[:, None])
        total = np.maximum(p.sum(axis=1), 1e-300)
        entropy = np.log(total) + beta * np.sum(finite * p, axis=1) / total
        too_flat = entropy > target
        low = np.where(too_flat, beta, low)
        high = np.where(too_flat, high, beta)
        beta = np.where(np.isinf(high), beta * 2, (low + high) / 2)
    p = p / total[:, None]
    p = (p + p.T) / (2 * n)
    return np.maximum(p, 1e-12)


def tsne(
    x: np.ndarray, perplexity: float = 30.0, n_iter: int = 500, seed: int = 0
) -> np.ndarray:
    """Exact 2-D t-SNE (van der Maaten & Hinton, 2008) in numpy.

    PCA initialisation, early exaggeration 12 for the first quarter of the
    iterations, momentum 0.5 then 0.8, adaptive gains. O(N^2) memory and
    time: fine for a few thousand points (one IEMOCAP test fold).

    Arguments
    ---------
    x : numpy.ndarray
        ``[N, dim]`` points.
    perplexity : float
        Effective number of neighbours (capped at ``(N - 1) / 3``).
    n_iter : int
        Gradient steps.
    seed : int
        Seed of the small jitter added to the PCA start.

    Returns
    -------
    numpy.ndarray
        ``[N, 2]`` coordinates.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> x = np.concatenate([rng.normal(0, 1, (20, 5)), rng.normal(8, 1, (20, 5))])
    >>> y = tsne(x, perplexity=5)
    >>> y.shape
    (40, 2)
    >>> d = ((y[:, None] - y[None]) ** 2).sum(-1) + np.diag(np.full(40, np.inf))
    >>> bool(np.all(d.argmin(1) // 20 == np.arange(40) // 20))  # neighbours kept
    True
    """
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    if n < 4:
        return _pca(x, 2) if n else np.zeros((0, 2))
    if x.shape[1] > 50:
        x = _pca(x, 50)
    p = _affinities(x, min(perplexity, (n - 1) / 3.0))
    rng = np.random.default_rng(seed)
    y = _pca(x, 2)
    y = y / (np.std(y[:, 0]) or 1.0) * 1e-4 + rng.normal(0, 1e-6, y.shape)
    update, gains = np.zeros_like(y), np.ones_like(y)
    learning_rate = max(n / 12.0 / 4.0, 50.0)
    exaggerate = max(n_iter // 4, 1)
    for step in range(n_iter):
        scale = 12.0 if step < exaggerate else 1.0
        sq = np.sum(y * y, axis=1)
        num = 1.0 / (1.0 + np.maximum(sq[:, None] + sq[None, :] - 2 * y @ y.T, 0.0))
        np.fill_diagonal(num, 0.0)
        q = np.maximum(num / num.sum(), 1e-12)
        w = (scale * p - q) * num
        grad = 4.0 * (w.sum(axis=1)[:, None] * y - w @ y)
        gains = np.where(np.sign(grad) != np.sign(update), gains + 0.2, gains * 0.8)
        gains = np.maximum(gains, 0.01)
        momentum = 0.5 if step < exaggerate else 0.8
        update = momentum * update - learning_rate * gains * grad
        y = y + update
        y = y - y.mean(axis=0)
    return y


def embed_2d(x: np.ndarray, method: str = "auto", seed: int = 0) -> Tuple[np.ndarray, str]:
    """2-D map of representations: UMAP if available (or asked), else t-SNE.

    Arguments
    ---------
    x : numpy.ndarray
        ``[N, dim]``.
    method : str
        ``auto``, ``umap`` or ``tsne``.
    seed : int
        Random seed.

    Returns
    -------
    coords : numpy.ndarray
        ``[N, 2]``.
    method : str
        The method used (``umap`` or ``t-SNE``).

    Example
    -------
    >>> coords, used = embed_2d(np.eye(6), method="tsne")
    >>> coords.shape, used
    ((6, 2), 't-SNE')
    """
    if method not in ("auto", "umap", "tsne"):
        raise ValueError(f"method must be auto, umap or tsne, got {method!r}")
    x = np.asarray(x, dtype=np.float64)
    if method in ("auto", "umap"):
        try:
            import umap
        except ImportError:
            if method == "umap":
                raise ImportError("method='umap' needs umap-learn: pip install umap-learn") from None
        else:
            if len(x) > 10:
                neighbours = min(15, len(x) - 1)
                reducer = umap.UMAP(n_components=2, n_neighbors=neighbours, random_state=seed)
                return reducer.fit_transform(x), "UMAP"
    return tsne(x, seed=seed), "t-SNE"


def plot_embedding(
    coords: np.ndarray,
    classes: Sequence[str],
    path: PathLike,
    values: Optional[Sequence[float]] = None,
    value_name: str = "arousal",
    title: str = "",
) -> Path:
    """Writes the 2-D map coloured by class (and by ``values`` when given).

    Arguments
    ---------
    coords : numpy.ndarray
        ``[N, 2]`` coordinates (see :func:`embed_2d`).
    classes : sequence of str
        Class name of every point.
    path : str or path
        Output PNG.
    values : sequence of float, optional
        A continuous value per point (NaN = unknown, drawn grey); adds a
        second panel.
    value_name : str
        Name of ``values`` for the colour bar.
    title : str
        Figure title.

    Returns
    -------
    Path
    """
    plt = _pyplot()
    coords = np.asarray(coords, dtype=np.float64)
    classes = [str(c) for c in classes]
    panels = 1 if values is None else 2
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 4.6), squeeze=False)
    ax = axes[0, 0]
    cmap = plt.get_cmap("tab10")
    size = float(np.clip(3000.0 / max(len(coords), 1), 4.0, 30.0))
    for i, name in enumerate(sorted(set(classes))):
        keep = np.array([c == name for c in classes])
        ax.scatter(coords[keep, 0], coords[keep, 1], s=size, color=cmap(i % 10), label=name)
    ax.legend(markerscale=2.5, fontsize=8, loc="best")
    ax.set_title("by class", fontsize=9)
    if values is not None:
        ax = axes[0, 1]
        values = np.asarray(values, dtype=np.float64)
        known = np.isfinite(values)
        ax.scatter(coords[~known, 0], coords[~known, 1], s=size, color="lightgrey")
        points = ax.scatter(coords[known, 0], coords[known, 1], s=size, c=values[known],
                            cmap="coolwarm")
        fig.colorbar(points, ax=ax, label=value_name)
        ax.set_title(f"by {value_name}", fontsize=9)
    for ax in axes[0]:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, plt, path)
