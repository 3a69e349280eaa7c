"""Installable package for the emotion2vec SpeechBrain recipe collection."""

from setuptools import find_packages, setup

setup(
    name="emotion2vec",
    version="0.1.0",
    description=(
        "emotion2vec: universal speech emotion representation, "
        "as a SpeechBrain recipe collection"
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["emotion2vec", "emotion2vec.*"]),
    python_requires=">=3.10",
    install_requires=[
        "torch>=2.6",  # weights-only torch.load by default, safe_globals with names
        "torchaudio>=2.4",
        "speechbrain>=1.1.2",
        "hyperpyyaml>=1.2",
        "numpy",
        "soundfile",
        "sentencepiece",
        "tqdm",
    ],
    extras_require={
        # CI also draws the recipe plots, checks the ONNX export against PyTorch,
        # decodes the fake MELD clips and reads the fake RESD parquet files
        "test": ["pytest>=7", "matplotlib", "onnx", "onnxruntime", "av", "pyarrow"],
        "onnx": ["onnx", "onnxruntime"],
        "hf": ["transformers"],
        "plots": ["matplotlib"],  # umap-learn: optional, UMAP instead of t-SNE
        "meld": ["av"],  # PyAV decodes MELD's MP4 clips (AAC audio)
        "resd": ["pyarrow"],  # RESD's Hugging Face parquet files
        "cmu": ["h5py"],  # CMU-MOSI / CMU-MOSEI labels as CMU-MultimodalSDK .csd (HDF5)
    },
    entry_points={"console_scripts": ["emotion2vec=emotion2vec.cli:main"]},
)
