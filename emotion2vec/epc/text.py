"""The text side of emotion prediction in conversation, offline.

Two ways to turn a transcript into model input:

* ``sentencepiece`` (default, no download): a SentencePiece tokenizer
  trained per fold on the TRAINING samples' transcripts only
  (:func:`train_sentencepiece`), whose token IDs feed a small text encoder
  trained with the model (:class:`emotion2vec.epc.model.TextEncoder`);
* ``bert``: frozen BERT features (one vector per utterance, the mean of the
  last layer over the tokens, or the ``[CLS]`` vector) computed once from a
  LOCAL Hugging Face folder (needs ``transformers``: ``pip install
  'emotion2vec[hf]'``; nothing is downloaded, no remote code runs) and
  cached by :class:`TextVectorCache`, keyed by the folder's files, the
  pooling and the transcripts.

Authors
 * emotion2vec-sb contributors
"""

import hashlib
import io
import json
import logging
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from emotion2vec.fileutils import PathLike, sha256_file, staged_file, staged_folder

logger = logging.getLogger(__name__)

PAD_ID = 0
UNK_ID = 1
TEXT_ENCODERS = ("sentencepiece", "bert")
BERT_POOLINGS = ("mean", "cls")


def train_sentencepiece(
    texts: Sequence[str], model_path: PathLike, vocab_size: int = 1000, model_type: str = "unigram"
) -> Path:
    """Trains a SentencePiece model on ``texts`` (and nothing else).

    Deterministic for the same texts in the same order. ``vocab_size`` is
    an upper bound: a small corpus gets the pieces it supports. IDs: 0 =
    padding, 1 = unknown; no BOS/EOS.

    Arguments
    ---------
    texts : sequence of str
        Training transcripts (empty ones are skipped).
    model_path : str or path
        Where the model is written (atomically).
    vocab_size : int
        Largest vocabulary.
    model_type : str
        ``unigram``, ``bpe``, ``char`` or ``word``.

    Returns
    -------
    Path
        ``model_path``.

    Example
    -------
    >>> import tempfile
    >>> path = train_sentencepiece(["good morning", "good night"] * 3,
    ...                            Path(tempfile.mkdtemp()) / "sp.model", vocab_size=30)
    >>> tok = SentencePieceTokenizer(path)
    >>> [tok.decode(ids) for ids in tok.encode(["good night", ""])]
    ['good night', ' ⁇ ']
    """
    import sentencepiece

    sentences = [t for t in (str(x).strip() for x in texts) if t]
    if not sentences:
        raise ValueError("no transcript to train the SentencePiece tokenizer on")
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences), model_writer=model, vocab_size=int(vocab_size),
        model_type=model_type, character_coverage=1.0, hard_vocab_limit=False,
        num_threads=1, minloglevel=2, pad_id=PAD_ID, unk_id=UNK_ID, bos_id=-1, eos_id=-1,
    )
    with staged_file(model_path) as tmp:
        tmp.write_bytes(model.getvalue())
    return Path(model_path)


class SentencePieceTokenizer:
    """A trained SentencePiece model: texts -> token ID arrays.

    Arguments
    ---------
    model_path : str or path
        A model written by :func:`train_sentencepiece`.
    """

    def __init__(self, model_path: PathLike):
        import sentencepiece

        self.model_path = Path(model_path)
        self.processor = sentencepiece.SentencePieceProcessor(model_file=str(model_path))

    @property
    def vocab_size(self) -> int:
        """Number of pieces (padding and unknown included)."""
        return int(self.processor.get_piece_size())

    def encode(self, texts: Sequence[str], max_tokens: Optional[int] = None) -> List[np.ndarray]:
        """Token IDs of each text (int64), at most ``max_tokens`` (the first ones).

        An empty text gets the single unknown token, so every utterance
        has at least one token.

        Arguments
        ---------
        texts : sequence of str
            Transcripts.
        max_tokens : int, optional
            Truncation length.

        Returns
        -------
        list of numpy.ndarray
        """
        out = []
        for ids in self.processor.encode([str(t) for t in texts]):
            ids = ids[:max_tokens] if max_tokens else ids
            out.append(np.asarray(ids or [UNK_ID], dtype=np.int64))
        return out

    def decode(self, ids: Sequence[int]) -> str:
        """Text of token IDs."""
        return self.processor.decode([int(i) for i in ids])


def texts_digest(texts: Mapping[str, str]) -> str:
    """SHA-256 of ``ID<TAB>text`` lines sorted by ID.

    Arguments
    ---------
    texts : mapping
        Utterance ID -> transcript.

    Returns
    -------
    str

    Example
    -------
    >>> texts_digest({"a": "hi", "b": "yo"}) == texts_digest({"b": "yo", "a": "hi"})
    True
    """
    digest = hashlib.sha256()
    for uid in sorted(texts):
        digest.update(f"{uid}\t{texts[uid]}\n".encode())
    return digest.hexdigest()


def folder_digest(folder: PathLike) -> Dict[str, str]:
    """SHA-256 of every file of a model folder (relative path -> digest).

    Hidden entries (``.cache``, ``.speechbrain``) are skipped.

    Arguments
    ---------
    folder : str or path
        The folder.

    Returns
    -------
    dict
    """
    folder = Path(folder)
    return {
        p.relative_to(folder).as_posix(): sha256_file(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    }


def hf_text_encoder(
    source: PathLike, pooling: str = "mean", max_length: int = 128, batch_size: int = 32,
    device: str = "cpu",
) -> Tuple[Dict[str, Any], Callable[[List[str]], np.ndarray]]:
    """A frozen BERT-like encoder from a LOCAL Hugging Face folder.

    The identity is computed from the folder's files; the model is loaded
    (with ``transformers``, local files only, no remote code) only when
    ``encode`` is first called, so a finished cache needs neither.

    Arguments
    ---------
    source : str or path
        Folder with ``config.json``, the tokenizer files and the weights
        (prefer ``*.safetensors``), e.g. a copy of ``bert-base-uncased``.
    pooling : str
        ``mean`` (of the last layer over the valid tokens) or ``cls``.
    max_length : int
        Tokens per utterance (longer ones are truncated).
    batch_size : int
        Utterances per forward pass.
    device : str
        Where the model runs.

    Returns
    -------
    identity : dict
        What the features depend on (folder file digests, pooling, length).
    encode : callable
        ``encode(texts) -> [len(texts), hidden]`` float32.

    Raises
    ------
    FileNotFoundError
        ``source`` is not a local folder.

    Example
    -------
    >>> hf_text_encoder("no/such/folder")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileNotFoundError: bert_source no/such/folder is not a local folder; ...
    """
    source = Path(source).expanduser()
    if not source.is_dir():
        raise FileNotFoundError(
            f"bert_source {source} is not a local folder; download the model once "
            "(config.json, tokenizer files, weights) and pass that folder (nothing is downloaded)"
        )
    if pooling not in BERT_POOLINGS:
        raise ValueError(f"bert_pooling must be one of {BERT_POOLINGS}, got {pooling!r}")
    identity = {"kind": "hf_text", "files": folder_digest(source), "pooling": pooling,
                "max_length": int(max_length)}
    loaded: Dict[str, Any] = {}

    def encode(texts: List[str]) -> np.ndarray:
        try:
            import torch
            from transformers import AutoModel, AutoTokenizer
        except ImportError as error:
            raise ImportError(
                f"BERT text features need `transformers`: pip install 'emotion2vec[hf]' ({error})"
            ) from None
        if not loaded:
            loaded["tokenizer"] = AutoTokenizer.from_pretrained(str(source), local_files_only=True)
            loaded["model"] = AutoModel.from_pretrained(str(source), local_files_only=True)
        tokenizer, model = loaded["tokenizer"], loaded["model"].eval().to(device)
        parts = []
        with torch.no_grad():
            for i in range(0, len(texts), batch_size):
                batch = tokenizer(list(texts[i : i + batch_size]), padding=True, truncation=True,
                                  max_length=max_length, return_tensors="pt").to(device)
                hidden = model(**batch).last_hidden_state.float()
                if pooling == "cls":
                    parts.append(hidden[:, 0])
                else:
                    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                    parts.append((hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0))
        model.cpu()
        return torch.cat(parts).cpu().numpy().astype(np.float32)

    return identity, encode


class TextVectorCache:
    """Frozen per-utterance text vectors, computed once and stored.

    The folder ``<root>/<name>-<key16>/`` holds ``vectors.npy``
    ``[utterances, dim]`` and ``meta.json`` (IDs, key, what it was computed
    from), written in a staging folder and moved into place when complete.
    The key covers the encoder's identity and every transcript.

    Arguments
    ---------
    root : str or path
        Cache folder (shared with the speech feature caches).
    texts : mapping
        Utterance ID -> transcript.
    identity : dict
        JSON-serialisable description of the encoder.
    encode : callable
        ``encode(list of str) -> [n, dim]`` array.
    name : str
        Folder prefix.

    Example
    -------
    >>> import tempfile
    >>> encode = lambda texts: np.array([[len(t), 1.0] for t in texts], dtype=np.float32)
    >>> cache = TextVectorCache(tempfile.mkdtemp(), {"u1": "hi", "u2": "hello"}, {"kind": "len"}, encode)
    >>> vectors = cache.build()
    >>> vectors.get("u2").tolist(), vectors.dim
    ([5.0, 1.0], 2)
    """

    def __init__(self, root: PathLike, texts: Mapping[str, str], identity: Dict[str, Any],
                 encode: Callable[[List[str]], np.ndarray], name: str = "text"):
        self.texts = dict(texts)
        self.encode = encode
        self.material = {"encoder": identity, "texts_sha256": texts_digest(self.texts)}
        blob = json.dumps(self.material, sort_keys=True, default=str).encode()
        self.key = hashlib.sha256(blob).hexdigest()
        self.path = Path(root) / f"{name}-{self.key[:16]}"

    def build(self) -> "VectorStore":
        """Computes the vectors unless a finished cache exists; opens it.

        Returns
        -------
        VectorStore
        """
        try:
            return VectorStore.load(self.path, self.key)
        except (FileNotFoundError, ValueError, KeyError):
            pass
        ids = sorted(self.texts)
        logger.info("text features: encoding %d transcripts into %s", len(ids), self.path)
        vectors = np.asarray(self.encode([self.texts[uid] for uid in ids]), dtype=np.float32)
        if vectors.shape[0] != len(ids) or vectors.ndim != 2:
            raise ValueError(f"text encoder returned shape {vectors.shape} for {len(ids)} texts")
        with staged_folder(self.path) as tmp:
            np.save(tmp / "vectors.npy", vectors)
            meta = {"key": self.key, "ids": ids, "material": self.material}
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1, default=str), encoding="utf-8")
        return VectorStore.load(self.path, self.key)


class VectorStore:
    """One vector per utterance: ``get(uid) -> [dim]`` float32.

    Arguments
    ---------
    ids : sequence of str
        Utterance IDs, row order.
    vectors : numpy.ndarray
        ``[len(ids), dim]``.
    """

    def __init__(self, ids: Sequence[str], vectors: np.ndarray):
        self.vectors = np.asarray(vectors, dtype=np.float32)
        self.row_of = {uid: i for i, uid in enumerate(ids)}
        if len(self.row_of) != self.vectors.shape[0]:
            raise ValueError("one vector per ID expected")

    @classmethod
    def load(cls, path: PathLike, key: Optional[str] = None) -> "VectorStore":
        """Opens a finished :class:`TextVectorCache` folder (checks its key)."""
        path = Path(path)
        meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
        if key is not None and meta.get("key") != key:
            raise ValueError(f"{path}: key differs")
        return cls(meta["ids"], np.load(path / "vectors.npy"))

    @property
    def dim(self) -> int:
        """Vector size."""
        return int(self.vectors.shape[1])

    def __contains__(self, uid: str) -> bool:
        return uid in self.row_of

    def get(self, uid: str) -> np.ndarray:
        """The vector of one utterance."""
        return self.vectors[self.row_of[uid]]
